"""Shared test helpers: small components and a wiring shorthand."""

from __future__ import annotations

from typing import Any

import pytest

from tapeflow import AsyncioConnector, ConnectorSpec


def wire(source: str, target: str) -> AsyncioConnector:
    return AsyncioConnector(spec=ConnectorSpec(source=source, target=target))


class ListTap:
    """A tap that keeps everything it hears, for checking what the stamped loop reports."""

    def __init__(self) -> None:
        self.run: Any = None
        self.messages: list[tuple[Any, ...]] = []
        self.steps: list[tuple[Any, ...]] = []
        self.ended: tuple[str, BaseException | None] | None = None

    def run_started(self, run: Any) -> None:
        self.run = run

    def message(self, envelope: Any, receiver_step: Any, receive_ns: Any, consume_ns: Any) -> None:
        self.messages.append((envelope, receiver_step, receive_ns, consume_ns))

    def step(self, component: int, index: int, start_ns: int, end_ns: int, blocked_ns: int, error: Any) -> None:
        self.steps.append((component, index, start_ns, end_ns, blocked_ns, error))

    def run_ended(self, status: str, error: BaseException | None) -> None:
        self.ended = (status, error)


@pytest.fixture(params=["plain", "stamped"])
def tap_mode(request: pytest.FixtureRequest) -> str:
    """Run a semantics test on both component loops: they must behave the same."""
    return str(request.param)
