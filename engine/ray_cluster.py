"""The Ray side of ``RayProcess``: import Ray, start or join a cluster, and check that every
component fits on some node before any is placed.

Ray is imported only here, and only when called: ``import tapeflow`` never imports it.
"""

from __future__ import annotations

import importlib
import ipaddress
import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from typing import Any

from .errors import NotAvailableError, ProcessError

__all__ = ["check_placement", "cluster_nodes", "ensure_ray", "import_ray"]

NEEDS_RAY = "RayProcess needs Ray, which is not installed: pip install 'tapeflow[ray]'"

# Ray's switch that makes a local node use 127.0.0.1 as its address (its default on macOS and
# Windows). On Linux Ray turns ``_node_ip_address="127.0.0.1"`` into the host's address, and a
# node whose address is not loopback binds its gRPC servers (GCS, raylet, every worker) to all
# interfaces: checked with ``ss -ltnp`` on Ray 2.60, and pinned by tests/ray/test_ray_cluster.py.
_LOOPBACK_NODE_SWITCH = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


def import_ray() -> Any:
    """The ``ray`` module, or a :class:`NotAvailableError` that says how to install it."""
    try:
        import ray
    except ImportError as error:
        raise NotAvailableError(NEEDS_RAY) from error
    return ray


def ensure_ray(address: str | None = None) -> None:
    """Make sure this process is connected to a Ray cluster.

    - Ray already initialised (by the caller, a notebook, a test): used as it is.
    - ``address``, else ``$RAY_ADDRESS``: that cluster is joined (``"auto"`` finds one started
      with ``ray start`` on this machine).
    - Neither: a local Ray is started for this process, listening on loopback only, without
      the dashboard, logging at WARNING. Ray's own security defaults (token authentication)
      stay as Ray sets them. A cluster started with ``ray start`` is used only when named.

    Prints from components still reach this process's output (``log_to_driver``).
    """
    ray = import_ray()
    if ray.is_initialized():
        return
    target = address or os.environ.get("RAY_ADDRESS") or None
    if target is not None:
        # A cluster on this machine's loopback (one that ensure_ray started, say) is reached from
        # a driver on loopback: Ray would turn 127.0.0.1 into the host's address, where nothing
        # listens, and wait for the GCS there for minutes.
        with _loopback_node() if _is_loopback(_host(target)) else nullcontext():
            ray.init(address=target, configure_logging=True, logging_level=logging.WARNING, log_to_driver=True)
        return
    with _loopback_node(), _without_auth_notice():
        ray.init(
            # "local" and not None: None would join a cluster that ``ray start`` left on this
            # machine, which listens wherever it was told to.
            address="local",
            _node_ip_address="127.0.0.1",
            include_dashboard=False,
            configure_logging=True,
            logging_level=logging.WARNING,
            log_to_driver=True,
        )
    node_ip = str(ray.util.get_node_ip_address())
    if not _is_loopback(node_ip):
        ray.shutdown()
        raise ProcessError(
            f"local Ray: it came up on {node_ip}, where other machines can reach it, and tapeflow "
            "starts Ray on loopback (127.0.0.1) only, so it was stopped; start Ray yourself "
            "(ray start --head) and give its address in RAY_ADDRESS"
        )


def cluster_nodes() -> list[dict[str, float]]:
    """Each alive node's total resources, as Ray names them (``CPU``, ``GPU``, ``memory`` in
    bytes, custom names). Needs a connected Ray (:func:`ensure_ray`)."""
    ray = import_ray()
    return [dict(node["Resources"]) for node in ray.nodes() if node.get("Alive")]


def check_placement(requests: Sequence[tuple[str, Mapping[str, Any]]], nodes: Sequence[Mapping[str, float]]) -> None:
    """Refuse, naming every such component at once, components that fit on no node by themselves.

    ``requests`` are ``(component name, Resource.to_ray_options())`` pairs; ``nodes`` are the
    alive nodes' total resources (:func:`cluster_nodes`). Ray would leave an actor that fits
    nowhere pending forever, so a run would hang instead of failing. Whether all the components
    fit at the same time is Ray's business: they wait for each other, which is not a hang.
    """
    if not requests:
        return
    if not nodes:
        names = ", ".join(repr(name) for name, _ in requests)
        raise ProcessError(
            f"Ray cluster: no node is alive, so {'components' if len(requests) > 1 else 'component'} "
            f"{names} cannot be placed; "
            "start a node (ray start), or point RAY_ADDRESS at a running cluster"
        )
    lines = []
    for name, options in requests:
        demand = _demand(options)
        if any(all(node.get(key, 0.0) >= amount for key, amount in demand.items()) for node in nodes):
            continue
        shown = [*_SHOWN_AS, *(key for key in demand if key not in _SHOWN_AS)]
        most = {key: max(node.get(key, 0.0) for node in nodes) for key in shown}
        short = {key: amount for key, amount in demand.items() if amount > most[key]}
        lacking = _show(short) if short else "all of that at once"
        lines.append(
            f"component {name!r} asks for {_show(demand)}, but no node of the Ray cluster has {lacking} "
            f"(nodes have at most: {_show(most)}); lower its resources, or run it on a Ray cluster "
            "with a node that has them"
        )
    if lines:
        raise ProcessError("\n".join(lines))


# Ray option -> the name of that resource on a node; custom resources keep their own names.
_NODE_KEYS = {"num_cpus": "CPU", "num_gpus": "GPU", "memory": "memory"}
_SHOWN_AS = {"CPU": "cpu", "GPU": "gpu", "memory": "memory"}


def _demand(options: Mapping[str, Any]) -> dict[str, float]:
    """What a component's Ray options ask of one node, under the node's resource names; zero
    amounts left out, as Ray asks nothing for them."""
    demand = {key: float(options.get(option) or 0) for option, key in _NODE_KEYS.items()}
    demand.update((str(name), float(amount)) for name, amount in (options.get("resources") or {}).items())
    return {key: amount for key, amount in demand.items() if amount}


def _show(amounts: Mapping[str, float]) -> str:
    """``cpu=2, gpu=0, memory=16.3 GiB, custom_hardware=1``: tapeflow's names, Ray's order."""
    order = [key for key in _SHOWN_AS if key in amounts] + sorted(key for key in amounts if key not in _SHOWN_AS)
    return ", ".join(
        f"{_SHOWN_AS.get(key, key)}={_bytes(amounts[key]) if key == 'memory' else format(amounts[key], 'g')}"
        for key in order
    )


def _bytes(amount: float) -> str:
    units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]
    step = 0
    while amount >= 1024 and step < len(units) - 1:
        amount /= 1024
        step += 1
    return f"{amount:.3g} {units[step]}" if amount < 1000 else f"{amount:.0f} {units[step]}"


def _host(address: str) -> str:
    """``"127.0.0.1"`` of ``"127.0.0.1:6379"`` and of ``"[::1]:6379"``; a ``ray://`` address
    (Ray Client, which needs no node address here) gives ``""``."""
    if "://" in address:
        return ""
    if address.startswith("["):
        return address[1:].split("]", 1)[0]
    return address.split(":", 1)[0] if address.count(":") == 1 else address


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


@contextmanager
def _loopback_node() -> Iterator[None]:
    """While Ray starts, have it take 127.0.0.1 as this node's address.

    The switch is an environment variable, read by the Ray processes started now (they inherit
    it) and by the ``ray`` module once at import, so the module's copy is set too. Both are put
    back afterwards: a later ``ray.init(address=...)`` that joins a real cluster must not
    announce this machine as 127.0.0.1 to the other nodes.
    """
    constants: Any = None
    try:
        constants = importlib.import_module("ray._private.ray_constants")
    except ImportError:  # a Ray without it: the address check after the start still holds
        pass
    had_env, had_constant = os.environ.get(_LOOPBACK_NODE_SWITCH), getattr(constants, "ENABLE_RAY_CLUSTER", None)
    os.environ[_LOOPBACK_NODE_SWITCH] = "0"
    if had_constant is not None:
        constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        if had_env is None:
            os.environ.pop(_LOOPBACK_NODE_SWITCH, None)
        else:
            os.environ[_LOOPBACK_NODE_SWITCH] = had_env
        if had_constant is not None:
            constants.ENABLE_RAY_CLUSTER = had_constant


class _DropAuthEnabledNotice(logging.Filter):
    """Ray (2.60) turns token authentication on for a new local cluster unless
    ``RAY_AUTH_MODE`` says otherwise, and logs a WARNING saying so at every start. That line
    asks nothing of the user, so it is dropped; it alone: authentication itself stays on."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Token authentication is enabled")


@contextmanager
def _without_auth_notice() -> Iterator[None]:
    notice = _DropAuthEnabledNotice()
    logger = logging.getLogger("ray._private.authentication.authentication_token_setup")
    logger.addFilter(notice)
    try:
        yield
    finally:
        logger.removeFilter(notice)
