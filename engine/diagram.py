"""A process drawn as a Mermaid flowchart, in the shape Plugboard's docs use::

    flowchart LR
        input@{ shape: rounded, label: Iterator<br>**input** } --> sleep@{ shape: rounded, label: Sleep<br>**sleep** }
"""

from __future__ import annotations

import re
import zlib

from .connector import parse_port_ref
from .process import Process

__all__ = ["mermaid"]

# Ids Mermaid reads as they are (the seed's 'slow-sleep' included); anything else is rewritten.
_SAFE_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]*$")
# Words that end or open blocks in a flowchart; as node ids they break the parse.
_KEYWORDS = frozenset({"end", "graph", "flowchart", "subgraph", "style", "class", "classdef", "click", "linkstyle", "direction"})
_PLAIN_LABEL = re.compile(r"^[A-Za-z0-9_ .-]*$")


def mermaid(process: Process) -> str:
    """One line per connector (sorted, so the text is stable), then the unconnected components."""
    ids = _node_ids(list(process.components))
    nodes = {name: _node(ids[name], type(c).__name__, name) for name, c in process.components.items()}
    edges: list[tuple[str, str, str, str]] = []
    for connector in process.connectors:
        source = parse_port_ref(connector.spec.source)
        target = parse_port_ref(connector.spec.target)
        if source is None or target is None or source.component not in nodes or target.component not in nodes:
            continue  # a built process has none of these; a hand-made one is drawn as far as it goes
        edges.append((source.component, target.component, source.port, target.port))
    lines = ["flowchart LR"]
    linked: set[str] = set()
    for source_name, target_name, _, _ in sorted(edges):
        lines.append(f"    {nodes[source_name]} --> {nodes[target_name]}")
        linked.update((source_name, target_name))
    lines.extend(f"    {nodes[name]}" for name in process.components if name not in linked)
    return "\n".join(lines) + "\n"


def _node(node_id: str, class_name: str, name: str) -> str:
    if _PLAIN_LABEL.match(class_name + name):
        label = f"{class_name}<br>**{name}**"
    else:
        label = f'"{_escape(class_name)}<br>**{_escape(name)}**"'
    return f"{node_id}@{{ shape: rounded, label: {label} }}"


def _escape(text: str) -> str:
    # Mermaid's entity codes keep quotes, braces and angle brackets from ending the label early.
    for char, code in (("#", "#35;"), ('"', "#quot;"), ("<", "#lt;"), (">", "#gt;"), ("{", "#123;"), ("}", "#125;")):
        text = text.replace(char, code)
    return text


def _node_ids(names: list[str]) -> dict[str, str]:
    """A Mermaid-safe, unique id per component name; safe names are kept as written."""
    ids: dict[str, str] = {}
    taken: set[str] = set()
    for name in names:
        if _SAFE_ID.match(name) and name.lower() not in _KEYWORDS:
            ids[name] = name
            taken.add(name)
    for name in names:
        if name in ids:
            continue
        stem = re.sub(r"[^A-Za-z0-9_-]", "_", name).lstrip("-") or "node"
        # A checksum of the original name keeps 'a b' and 'a.b' apart after rewriting.
        candidate = f"n_{stem}_{zlib.crc32(name.encode()):08x}"
        while candidate in taken:
            candidate += "_"
        ids[name] = candidate
        taken.add(candidate)
    return ids
