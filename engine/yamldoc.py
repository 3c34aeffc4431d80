"""A YAML document read with the position of every node, under limits that keep a hostile
or mistaken file from hanging or exhausting the loader, so that a config error can point at
``file:line:col`` instead of at a path the user has to find by hand.

Uses libyaml when PyYAML has it, PyYAML's pure-Python parser when not (and for the wording
of syntax errors, which then does not depend on libyaml). Imports PyYAML when first used,
never at ``import tapeflow`` time.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import yaml

__all__ = ["MAX_ALIAS_NODES", "MAX_DEPTH", "YamlSource", "YamlSyntaxError", "gc_paused", "parse_yaml"]


# Alias expansion may add at most this many nodes to a document. A model that shares an
# ``args`` mapping of a few keys among thousands of components stays far below it; a "billion
# laughs" (nine levels of ten aliases) is a thousand times over it, and is refused before
# anything walks the expanded values (pydantic, the argument checks, the recorder's copy).
MAX_ALIAS_NODES = 1_000_000

# Lists and mappings may nest at most this deep, aliases included. A model needs about ten
# levels; every later step (building the values, the config copy, json in the argument
# checks) recurses once per level and would stop at Python's recursion limit (1,000) with a
# traceback instead of a located line.
MAX_DEPTH = 100


class YamlSyntaxError(Exception):
    """The text is not a usable YAML document; each of ``lines`` is a whole
    ``file:line:col: …`` message."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


@dataclass(slots=True)
class YamlSource:
    """A parsed document: ``data`` as plain Python values, ``root`` the node tree with marks."""

    filename: str
    data: Any
    root: yaml.Node | None
    # (line, column, message) of each mapping key given twice; 1-based like every position here.
    duplicate_keys: list[tuple[int, int, str]]

    def position(self, path: Sequence[str | int], *, key: bool = False) -> tuple[int, int]:
        """1-based ``(line, column)`` of the node at ``path``, or of its nearest existing parent.

        With ``key=True`` a mapping entry is located at its key rather than at its value:
        an unknown key is best shown where the key is written.
        """
        node = self.root
        found = node
        for depth, step in enumerate(path):
            nxt, key_node = _child(found, step) if found is not None else (None, None)
            if nxt is None:
                break
            last = depth == len(path) - 1
            node = key_node if key and last and key_node is not None else nxt
            found = nxt
        if node is None:
            return 1, 1
        return node.start_mark.line + 1, node.start_mark.column + 1


def _child(node: yaml.Node, step: str | int) -> tuple[yaml.Node | None, yaml.Node | None]:
    import yaml

    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.value == str(step):
                return value_node, key_node
    elif isinstance(node, yaml.SequenceNode) and isinstance(step, int) and 0 <= step < len(node.value):
        return node.value[step], None
    return None, None


def parse_yaml(text: str, filename: str) -> YamlSource:
    """Parse one YAML document; raise ``YamlSyntaxError`` located at the problem.

    Aliases and nesting are checked between composing the node graph and building Python
    values from it: an alias inside the node it names (``a: &a [*a]``), aliases that would
    expand the document by more than ``MAX_ALIAS_NODES`` nodes and nesting deeper than
    ``MAX_DEPTH`` are refused there, so nothing after this can loop over a cyclic value, walk
    an exponential one or run out of stack.
    """
    import yaml

    fast = getattr(yaml, "CSafeLoader", None)
    with gc_paused():
        if fast is not None:
            try:
                return _load(fast, text, filename)
            except yaml.YAMLError as error:
                # libyaml stops at 1,000 levels of nesting, before it sends a single event.
                # PyYAML's composer would recurse into them and its scanner keep up to 1,024
                # pending keys (5,000 levels: 7 s); its parser's events, read only to where the
                # nesting passes MAX_DEPTH, locate the problem at once.
                if "nesting" in str(getattr(error, "problem", "")):
                    deep = _depth_problems(yaml.SafeLoader, text)
                    if deep:
                        raise YamlSyntaxError(_lines(deep, filename)) from None
        # libyaml words syntax errors its own way; PyYAML's pure-Python parser reads the text
        # again so that messages are the same whether libyaml is installed or not.
        try:
            return _load(yaml.SafeLoader, text, filename)
        except yaml.YAMLError as error:
            raise YamlSyntaxError([_syntax_line(error, filename)]) from None
        except RecursionError:
            # PyYAML's composer recurses once per level; its parser's events come from a loop.
            deep = _depth_problems(yaml.SafeLoader, text)
        raise YamlSyntaxError(
            _lines(deep, filename) or [f"{filename}: invalid YAML: nested too deep to read; nest at most {MAX_DEPTH} levels"]
        )


def _lines(found: list[tuple[int, int, str]], filename: str) -> list[str]:
    return [f"{filename}:{line}:{column}: {message}" for line, column, message in found]


def _syntax_line(error: Exception, filename: str) -> str:
    import yaml

    if isinstance(error, yaml.MarkedYAMLError):
        mark = error.problem_mark or error.context_mark
        where = f"{filename}:{mark.line + 1}:{mark.column + 1}" if mark is not None else filename
        return f"{where}: invalid YAML: {error.problem or error.context or 'unreadable document'}"
    return f"{filename}: invalid YAML: {error}; fix the syntax"


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a model is read and built.

    Reading and building allocate an object per node and per component, and nearly all of
    them live on. Every few hundred allocations the collector runs, and every so often it
    rescans all of them, finding nothing: on a generated chain of 10,000 components
    (``tests/unit/test_yamldoc.py::chain_model``) reading and building take about
    0.5 s paused against 2.2 s running. Cyclic garbage that component constructors leave is
    collected afterwards, at the first collection. Nested uses are fine: only the outermost
    one turns the collector back on.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _load(loader_cls: type[Any], text: str, filename: str) -> YamlSource:
    loader = loader_cls(text)
    try:
        root = loader.get_single_node()
        # Without a '*' there is no alias, so nothing to expand and no cycle: the event scan
        # is skipped for most model files.
        if root is not None and "*" in text:
            problems = _alias_problems(loader_cls, text)
            if problems:
                raise YamlSyntaxError(_lines(problems, filename))
        data, duplicates = _construct(loader, root, filename) if root is not None else (None, [])
    finally:
        loader.dispose()
    return YamlSource(filename, data, root, duplicates)


_TAG = "tag:yaml.org,2002:"
_STR, _SEQ, _MAP, _MERGE = _TAG + "str", _TAG + "seq", _TAG + "map", _TAG + "merge"
_SCALARS = frozenset(_TAG + t for t in ("null", "bool", "int", "float", "timestamp", "binary"))
_TOO_DEEP = f"YAML value nested deeper than {MAX_DEPTH} levels; flatten it"


class _NotPlain(Exception):
    """The document needs PyYAML's own constructor: a merge key, a tag, an unhashable key."""


def _construct(loader: Any, root: yaml.Node, filename: str) -> tuple[Any, list[tuple[int, int, str]]]:
    """The document's values, and its duplicate keys.

    Builds what PyYAML's SafeConstructor builds, in one pass that also finds duplicate keys
    and nesting past ``MAX_DEPTH``, for documents of plain mappings, lists and scalars: the
    10,000-component chain of ``tests/unit/test_yamldoc.py::chain_model`` builds in
    0.05 s instead of 0.24 s, and needs no second walk for the keys. Anything else (``<<`` merge
    keys, ``!!set``) goes to PyYAML's constructor after one walk for the keys and the depth.
    Nesting through aliases is checked before, by ``_alias_problems``.
    """
    import yaml

    scalar_node, sequence_node, mapping_node = yaml.ScalarNode, yaml.SequenceNode, yaml.MappingNode
    constructors = loader.yaml_constructors
    duplicates: list[tuple[int, int, str]] = []
    # Aliased nodes are one object and build into one value, as in PyYAML.
    built: dict[int, Any] = {}

    def value(node: yaml.Node, depth: int) -> Any:
        kind = type(node)
        tag = node.tag
        if kind is scalar_node:
            if tag == _STR:
                return node.value
            if tag not in _SCALARS:
                raise _NotPlain
            return constructors[tag](loader, node)
        done = built.get(id(node))
        if done is not None:
            return done
        if depth > MAX_DEPTH:
            line, column = _at(node.start_mark)
            raise YamlSyntaxError([f"{filename}:{line}:{column}: {_TOO_DEEP}"])
        if kind is sequence_node and tag == _SEQ:
            items: list[Any] = []
            built[id(node)] = items
            items.extend(value(child, depth + 1) for child in node.value)
            return items
        if kind is mapping_node and tag == _MAP:
            mapping: dict[Any, Any] = {}
            built[id(node)] = mapping
            seen: dict[str, yaml.Node] = {}
            for key_node, value_node in node.value:
                if key_node.tag == _MERGE:
                    raise _NotPlain
                if type(key_node) is scalar_node:
                    first = seen.get(key_node.value)
                    if first is not None:
                        duplicates.append(_duplicate(key_node, first))
                    else:
                        seen[key_node.value] = key_node
                key = value(key_node, depth + 1)
                if isinstance(key, (list, dict)):
                    raise _NotPlain
                mapping[key] = value(value_node, depth + 1)
            return mapping
        raise _NotPlain

    try:
        return value(root, 1), sorted(duplicates)
    except _NotPlain:
        pass
    # Keys first: PyYAML's constructor writes merged keys into the mapping nodes.
    duplicates, deep = _walk(root)
    if deep is not None:
        raise YamlSyntaxError([f"{filename}:{deep[0]}:{deep[1]}: {_TOO_DEEP}"])
    return loader.construct_document(root), duplicates


def _duplicate(key_node: yaml.Node, first: yaml.Node) -> tuple[int, int, str]:
    mark = key_node.start_mark
    return (
        mark.line + 1,
        mark.column + 1,
        f"duplicate key {key_node.value!r} (first at line {first.start_mark.line + 1}); keep only one",
    )


def _walk(root: yaml.Node) -> tuple[list[tuple[int, int, str]], tuple[int, int] | None]:
    """Duplicate keys, and where the first collection nested past ``MAX_DEPTH`` starts; for
    the documents ``_construct`` hands to PyYAML. Iterative, so deep nesting is no danger."""
    import yaml

    mapping, sequence, scalar = yaml.MappingNode, yaml.SequenceNode, yaml.ScalarNode
    found: list[tuple[int, int, str]] = []
    # Only collections are stacked (scalars hold nothing), and each is looked at once: a node
    # reached through several aliases is one object.
    stack = [(root, 1)] if isinstance(root, (mapping, sequence)) else []
    done: set[int] = set()
    while stack:
        node, depth = stack.pop()
        if id(node) in done:
            continue
        if depth > MAX_DEPTH:
            return found, _at(node.start_mark)
        done.add(id(node))
        if isinstance(node, mapping):
            seen: dict[str, yaml.Node] = {}
            for key_node, value_node in node.value:
                if type(key_node) is scalar:
                    first = seen.get(key_node.value)
                    if first is not None:
                        found.append(_duplicate(key_node, first))
                    else:
                        seen[key_node.value] = key_node
                if type(value_node) is not scalar:
                    stack.append((value_node, depth + 1))
        else:
            stack.extend((child, depth + 1) for child in node.value if type(child) is not scalar)
    return sorted(found), None


def _alias_problems(loader_cls: type[Any], text: str) -> list[tuple[int, int, str]]:
    """Alias and nesting problems of a document that composed: ``(line, column, message)``."""
    found: list[tuple[int, int, str]] = []
    _scan_events(loader_cls, text, found)
    return sorted(found)


def _depth_problems(loader_cls: type[Any], text: str) -> list[tuple[int, int, str]]:
    """Where a document that did not compose nests past ``MAX_DEPTH``, read as far as the
    parser gets; empty if it does not get that deep."""
    import yaml

    found: list[tuple[int, int, str]] = []
    try:
        _scan_events(loader_cls, text, found)
    except yaml.YAMLError:
        pass  # the syntax error itself is for PyYAML's parser to word
    return [problem for problem in found if problem[2] == _TOO_DEEP]


def _scan_events(loader_cls: type[Any], text: str, found: list[tuple[int, int, str]]) -> None:
    """Read the parser's events once, keeping how many nodes and how many levels each
    anchored node expands to, and add to ``found`` each alias met while its own anchor's
    node is still open (a recursive alias), the alias that takes the total expansion past
    ``MAX_ALIAS_NODES``, and the first alias or collection that nests past ``MAX_DEPTH``,
    where the scan stops.

    Events rather than the composed nodes, because an alias and its anchor compose into the
    same node object: only the event still knows where the alias was written.
    """
    import yaml

    parser = loader_cls(text)
    # Per open collection: [anchor, nodes it expands to, levels below it]; the first is the
    # document itself.
    frames: list[list[Any]] = [[None, 0, 0]]
    open_anchors: set[str] = set()
    sizes: dict[str, int] = {}
    heights: dict[str, int] = {}
    added = 0
    crossed: tuple[int, int, str] | None = None  # where the expansion passed the limit
    too_deep = False
    try:
        while parser.check_event():
            event = parser.get_event()
            if isinstance(event, yaml.AliasEvent):
                anchor = str(event.anchor)
                frame = frames[-1]
                if anchor in open_anchors:
                    found.append(
                        (
                            *_at(event.start_mark),
                            f"YAML alias '*{anchor}' refers to a node that contains it; write the value out",
                        )
                    )
                    frame[1] += 1
                    continue
                size = sizes.get(anchor, 1)
                frame[1] += size
                frame[2] = max(frame[2], heights.get(anchor, 0))
                added += size
                if crossed is None and added > MAX_ALIAS_NODES:
                    crossed = (*_at(event.start_mark), anchor)
                if not too_deep and len(frames) - 1 + heights.get(anchor, 0) > MAX_DEPTH:
                    too_deep = True
                    found.append(
                        (
                            *_at(event.start_mark),
                            f"YAML alias '*{anchor}' nests a value deeper than {MAX_DEPTH} levels; flatten it",
                        )
                    )
            elif isinstance(event, yaml.CollectionStartEvent):
                frames.append([event.anchor, 1, 0])
                if event.anchor is not None:
                    open_anchors.add(event.anchor)
                if len(frames) - 1 > MAX_DEPTH:
                    # Stop here: PyYAML's parser takes time quadratic in the depth beyond.
                    found.append((*_at(event.start_mark), _TOO_DEEP))
                    break
            elif isinstance(event, yaml.CollectionEndEvent):
                anchor, size, below = frames.pop()
                frames[-1][1] += size
                frames[-1][2] = max(frames[-1][2], below + 1)
                if anchor is not None:
                    open_anchors.discard(anchor)
                    sizes[anchor] = size
                    heights[anchor] = below + 1
            elif isinstance(event, yaml.ScalarEvent):
                frames[-1][1] += 1
                if event.anchor is not None:
                    sizes[event.anchor] = 1
                    heights[event.anchor] = 0
    finally:
        parser.dispose()
        if crossed is not None:
            line, column, anchor = crossed
            found.append(
                (
                    line,
                    column,
                    f"YAML alias '*{anchor}' makes aliases expand to more than {MAX_ALIAS_NODES:,} nodes "
                    f"({added:,} in all); alias smaller values or write them out",
                )
            )


def _at(mark: Any) -> tuple[int, int]:
    """1-based (line, column) of a mark (PyYAML's or libyaml's)."""
    return (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
