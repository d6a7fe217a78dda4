"""Read a spec file's YAML into plain Python data, remembering where every node is.

We do not use `yaml.safe_load`, because for a spec file it is wrong or unsafe:

- it keeps the last of two duplicate keys without a word, so a stray second
  `units:` silently wins;
- it gives scalars their YAML 1.1 meaning: `no`/`on` become booleans, `012`
  octal, `1:30` the number 5400, `2024-01-01` a date, while `1e-3` stays a
  string. Specs get the YAML 1.2 core schema instead;
- it expands aliases into whole node trees, so a "billion laughs" file of a few
  hundred bytes eats all memory;
- its composer recurses: libyaml's overflows the C stack and kills the process
  at ~30,000 nested brackets, the pure-Python one raises RecursionError;
- it forgets positions, and every later error must point at a line and column.

So we drive PyYAML's event parser (a state machine, no recursion) and build
the data here with an explicit stack, counting nodes (aliases at their full
expanded size) and depth as we go, and stopping at the first limit crossed.
Mistakes that do not stop the reading (duplicate keys, bad tags, ...) are
collected so that one `SpecError` reports them all.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.events import (AliasEvent, DocumentStartEvent, MappingEndEvent, MappingStartEvent,
                         ScalarEvent, SequenceEndEvent, SequenceStartEvent, StreamEndEvent)

from specc.codes import Code
from specc.errors import Diagnostic, Location, SpecError, describe

_LIBYAML = yaml.__with_libyaml__
if _LIBYAML:
    from yaml.cyaml import CParser

MAX_BYTES = 8 * 1024 * 1024
MAX_DEPTH = 64
MAX_NODES = 2_000_000


@dataclass(frozen=True, slots=True)
class Mark:
    """Where a node starts: 1-based line and column."""

    line: int
    column: int


@dataclass
class YamlDocument:
    """A spec file's data, with the position of every value and mapping key.

    Paths are tuples of mapping keys and sequence indices from the root `()`.
    """

    filename: str
    data: Any
    values: dict[tuple, Mark] = field(default_factory=dict)
    keys: dict[tuple, Mark] = field(default_factory=dict)

    def value_mark(self, path: tuple) -> Mark | None:
        """The mark of the deepest recorded ancestor-or-self of `path`."""
        path = tuple(path)
        for end in range(len(path), -1, -1):
            mark = self.values.get(path[:end])
            if mark is not None:
                return mark
        return None

    def key_mark(self, path: tuple) -> Mark | None:
        """Where the mapping key of `path` starts, else where its value does."""
        path = tuple(path)
        return self.keys.get(path) or self.value_mark(path)


# --- Scalars: the YAML 1.2 core schema -----------------------------------------

_YAML_TAG = "tag:yaml.org,2002:"
_MAP_TAG, _SEQ_TAG = _YAML_TAG + "map", _YAML_TAG + "seq"
_NO = object()  # "does not fit this tag"
_NULLS = {"~", "null", "Null", "NULL", ""}
_BOOLS = {s: True for s in ("true", "True", "TRUE")} | {s: False for s in ("false", "False", "FALSE")}
_INT = re.compile(r"[-+]?[0-9]+")
_OCT = re.compile(r"0o[0-7]+")
_HEX = re.compile(r"0x[0-9a-fA-F]+")
_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_SPECIAL_FLOATS = {
    sign + dot_inf: sign_value * math.inf
    for sign, sign_value in (("", 1), ("+", 1), ("-", -1))
    for dot_inf in (".inf", ".Inf", ".INF")
} | {nan: math.nan for nan in (".nan", ".NaN", ".NAN")}
# A plain scalar starting with anything else is a string: skip the regexes.
_NON_STRING_STARTS = frozenset("~nNtTfF0123456789+-.")


class _ScalarError(Exception):
    """A scalar that cannot be read (caught by the builder and located)."""


def _as_null(text: str) -> Any:
    return None if text in _NULLS else _NO


def _as_bool(text: str) -> Any:
    return _BOOLS.get(text, _NO)


def _as_int(text: str) -> Any:
    if _INT.fullmatch(text):
        try:
            return int(text, 10)
        except ValueError:  # Python refuses decimal strings over ~4300 digits
            raise _ScalarError(f"integer has too many digits ({len(text)})") from None
    if _OCT.fullmatch(text):
        return int(text[2:], 8)
    if _HEX.fullmatch(text):
        return int(text[2:], 16)
    return _NO


def _as_float(text: str) -> Any:
    if _FLOAT.fullmatch(text):
        return float(text)
    return _SPECIAL_FLOATS.get(text, _NO)


_SCALAR_TAGS = {_YAML_TAG + "str": str, _YAML_TAG + "null": _as_null, _YAML_TAG + "bool": _as_bool,
                _YAML_TAG + "int": _as_int, _YAML_TAG + "float": _as_float}


def _resolve_plain(text: str) -> Any:
    """The core-schema value of a plain, untagged scalar."""
    if text and text[0] not in _NON_STRING_STARTS:
        return text
    for convert in (_as_null, _as_bool, _as_int, _as_float):
        value = convert(text)
        if value is not _NO:
            return value
    return text


def _tag_name(tag: str) -> str:
    return "!!" + tag[len(_YAML_TAG):] if tag.startswith(_YAML_TAG) else tag


# --- Building the data from parser events ----------------------------------------


class _Fatal(Exception):
    """A mistake after which reading cannot go on."""

    def __init__(self, diagnostic: Diagnostic, too_deep: bool = False) -> None:
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic
        self.too_deep = too_deep


class _LibyamlNestingLimit(Exception):
    """libyaml's own nesting limit (1000) fired while it scanned ahead."""

    def __init__(self, index: int, mark: Mark) -> None:
        super().__init__(index)
        self.index, self.mark = index, mark


_MERGE = object()  # stands for the merge key `<<` among a mapping's keys


class _Frame:
    """A collection being built, with what its next child needs to know."""

    # Class-level defaults keep frame creation cheap; instances override them.
    height = 1  # levels of nesting, this one included
    has_key = False  # mapping: the key is read, the value comes next
    key: Any = None
    skip = merging = False  # what to do with the coming value
    merge_mark: Mark | None = None  # where the `<<` being read stands
    merges: list | None = None  # [(source mappings, key mark, value mark)]

    def __init__(self, container, path, anchor, mark, first_node) -> None:
        self.container = container
        self.is_map = isinstance(container, dict)
        self.first_lines = {} if self.is_map else None  # key -> line first defined at
        self.path = path  # None: positions under here are not recorded
        self.anchor, self.mark, self.first_node = anchor, mark, first_node


class _Builder:
    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.diagnostics: list[Diagnostic] = []
        self.values: dict[tuple, Mark] = {}
        self.keys: dict[tuple, Mark] = {}
        self.stack: list[_Frame] = []
        self.top: _Frame | None = None  # self.stack[-1], the collection being built
        self.anchors: dict[str, tuple[Any, int, int]] = {}  # name -> (value, size, height)
        self.open_anchors: dict[str, _Frame] = {}  # collections still being built
        self.nodes = 0
        self.documents = 0
        self.data: Any = None
        self.too_deep = False

    def located(self, code: Code, message: str, mark: Mark) -> Diagnostic:
        return Diagnostic(code, message, Location(self.filename, mark.line, mark.column))

    def report(self, code: Code, message: str, mark: Mark) -> None:
        self.diagnostics.append(self.located(code, message, mark))

    def build(self, text: str, retry: bool = True) -> None:
        """Read `text`, leaving every mistake found in `self.diagnostics`."""
        try:
            parser = CParser(text) if _LIBYAML else yaml.SafeLoader(text)
            try:
                self.consume(parser.get_event)
            finally:
                parser.dispose()
        except _Fatal as fatal:
            self.diagnostics.append(fatal.diagnostic)
            self.too_deep = fatal.too_deep
        except yaml.MarkedYAMLError as error:
            mark = error.problem_mark or error.context_mark
            if retry and _LIBYAML and "maximum nesting depth" in str(error.problem):
                raise _LibyamlNestingLimit(mark.index, _mark(mark)) from None
            self.diagnostics.append(_syntax_diagnostic(error, self.filename))
        except yaml.reader.ReaderError as error:  # our own character check runs first
            self.diagnostics.append(_text_error(Code.NOT_TEXT, text, error.position, error.reason, self.filename))
        except yaml.YAMLError as error:  # anything else PyYAML may raise, unlocated
            self.diagnostics.append(Diagnostic(Code.YAML_SYNTAX, f"invalid YAML: {error}", None))

    def consume(self, get_event) -> None:
        scalar, start, end = self.scalar, self.start, self.end  # the hot loop
        while True:
            event = get_event()
            kind = type(event)
            if kind is ScalarEvent:
                scalar(event)
            elif kind is MappingStartEvent or kind is SequenceStartEvent:
                start(event, {} if kind is MappingStartEvent else [])
            elif kind is MappingEndEvent or kind is SequenceEndEvent:
                end()
            elif kind is AliasEvent:
                self.alias(event)
            elif kind is DocumentStartEvent:
                self.documents += 1
                if self.documents > 1:
                    raise _Fatal(self.located(
                        Code.SECOND_DOCUMENT, "a spec file holds one YAML document, but a second one starts here",
                        _mark(event.start_mark)))
            elif event is None or kind is StreamEndEvent:
                return

    def count(self, nodes: int, mark: Mark, alias: bool) -> None:
        self.nodes += nodes
        if self.nodes > MAX_NODES:
            self.too_many(mark, alias)

    def too_many(self, mark: Mark, alias: bool) -> None:
        if alias:
            message = f"YAML alias expansion too large (more than {MAX_NODES:,} nodes): an alias bomb?"
        else:
            message = f"YAML document too large (more than {MAX_NODES:,} nodes)"
        raise _Fatal(self.located(Code.TOO_LARGE, message, mark))

    def child_path(self) -> tuple | None:
        """Where the next node goes; None when its position is not recorded."""
        frame = self.top
        if frame is None:
            return ()
        if frame.path is None:
            return None
        if not frame.is_map:
            return (*frame.path, len(frame.container))
        if not frame.has_key or frame.skip or frame.merging:
            return None  # a key (recorded in `keys` once read) or a discarded value
        return (*frame.path, frame.key)

    def scalar(self, event: ScalarEvent) -> None:
        # The hot path (most nodes are scalars), so some calls are inlined.
        start = event.start_mark
        mark = Mark(start.line + 1, start.column + 1)
        self.nodes += 1
        if self.nodes > MAX_NODES:
            self.too_many(mark, alias=False)
        text = event.value
        if event.tag is None and event.implicit[0] and text and text[0] not in _NON_STRING_STARTS:
            value = text  # a plain word: a string
        else:
            value = self.scalar_value(event, mark)
        if event.anchor is not None:
            self.open_anchors.pop(event.anchor, None)
            self.anchors[event.anchor] = (value, 1, 0)
        merge = value == "<<" and event.tag is None and event.implicit[0]
        self.attach(value, mark, 0, record=True, merge=merge)

    def scalar_value(self, event: ScalarEvent, mark: Mark) -> Any:
        tag, text = event.tag, event.value
        if tag == "!" or (tag is None and not event.implicit[0]):
            return text  # quoted, or the non-specific tag `!`: a string
        convert = _resolve_plain if tag is None else _SCALAR_TAGS.get(tag)
        if convert is None:
            self.report(Code.YAML_TAG, _tag_problem(tag, "a scalar"), mark)
            return text
        try:
            value = convert(text)
        except _ScalarError as error:  # an integer with too many digits
            self.report(Code.TOO_LARGE, str(error), mark)
            return text
        if value is _NO:
            self.report(Code.YAML_TAG, f"{describe(text)} is not a valid {_tag_name(tag)}", mark)
            return text
        return value

    def alias(self, event: AliasEvent) -> None:
        mark, name = _mark(event.start_mark), event.anchor
        value, size, height = None, 1, 0
        if name in self.open_anchors:
            self.report(Code.YAML_ALIAS, f"alias '*{name}' refers to a collection that contains it; "
                        "recursive structures are not allowed", mark)
        elif name not in self.anchors:
            self.report(Code.YAML_ALIAS, f"alias '*{name}' refers to no anchor defined before it", mark)
        else:
            value, size, height = self.anchors[name]
        self.count(size, mark, alias=True)
        if len(self.stack) + height > MAX_DEPTH:
            raise _Fatal(self.located(Code.TOO_LARGE, f"alias '*{name}' makes the nesting deeper than "
                                      f"{MAX_DEPTH} levels", mark), too_deep=True)
        self.attach(value, mark, height, record=True)  # deeper paths fall back to this mark

    def start(self, event, container: dict | list) -> None:
        start = event.start_mark
        mark = Mark(start.line + 1, start.column + 1)
        if len(self.stack) >= MAX_DEPTH:
            raise _Fatal(self.located(Code.TOO_LARGE, f"nesting is deeper than {MAX_DEPTH} levels", mark),
                         too_deep=True)
        self.count(1, mark, alias=False)
        expected = _MAP_TAG if isinstance(container, dict) else _SEQ_TAG
        if event.tag not in (None, "!", expected):
            self.report(Code.YAML_TAG, _tag_problem(event.tag, "a mapping" if expected == _MAP_TAG
                                     else "a sequence"), mark)
        path = self.child_path()
        if path is not None:
            self.values[path] = mark
        frame = _Frame(container, path, event.anchor, mark, self.nodes)
        if event.anchor is not None:
            self.open_anchors[event.anchor] = frame
        self.stack.append(frame)
        self.top = frame

    def end(self) -> None:
        frame = self.stack.pop()
        self.top = self.stack[-1] if self.stack else None
        if frame.merges:
            self.apply_merges(frame)
        # Only the latest definition of an anchor counts: one redefined
        # inside this collection was registered when it was defined.
        if frame.anchor is not None and self.open_anchors.get(frame.anchor) is frame:
            del self.open_anchors[frame.anchor]
            size = self.nodes - frame.first_node + 1
            self.anchors[frame.anchor] = (frame.container, size, frame.height)
        self.attach(frame.container, frame.mark, frame.height)

    def attach(self, value: Any, mark: Mark, height: int, record: bool = False,
               merge: bool = False) -> None:
        """Put a finished node into the collection being built (or at the root).

        `record`: note where the node starts (collections did it at their start).
        """
        frame = self.top
        if frame is None:
            self.data = value
            if record:
                self.values[()] = mark
        elif not frame.is_map:
            if record and frame.path is not None:
                self.values[(*frame.path, len(frame.container))] = mark
            frame.container.append(value)
            if height >= frame.height:
                frame.height = height + 1
        elif not frame.has_key:
            frame.has_key = True
            self.read_key(frame, value, mark, merge)
        else:
            frame.has_key = False
            if frame.merging:
                frame.merging = False
                self.read_merge(frame, value, mark, height)
            elif frame.skip:
                frame.skip = False
            else:
                if record and frame.path is not None:
                    self.values[(*frame.path, frame.key)] = mark
                frame.container[frame.key] = value
                if height >= frame.height:
                    frame.height = height + 1

    def read_key(self, frame: _Frame, key: Any, mark: Mark, merge: bool) -> None:
        if isinstance(key, (dict, list)):
            kind = "a mapping" if isinstance(key, dict) else "a sequence"
            self.report(Code.YAML_KEY, f"a mapping key must be a scalar, not {kind}", mark)
            frame.skip = True
            return
        seen = _MERGE if merge else key
        first_line = frame.first_lines.get(seen)
        if first_line is not None:
            self.report(Code.DUPLICATE_KEY, f"duplicate key {describe(key)} (first defined at line {first_line})", mark)
            frame.skip = True
            return
        frame.first_lines[seen] = mark.line
        if merge:
            frame.merging = True
            frame.merge_mark = mark
            return
        frame.key = key
        if frame.path is not None:
            self.keys[(*frame.path, key)] = mark

    def read_merge(self, frame: _Frame, value: Any, mark: Mark, height: int) -> None:
        """Note the mappings of `<<: *base` or `<<: [*a, *b]`, merged at the end."""
        sources = [value] if isinstance(value, dict) else value
        if not isinstance(sources, list) or not all(isinstance(s, dict) for s in sources):
            self.report(Code.YAML_KEY, "the merge key '<<' takes a mapping, an alias to one, "
                        "or a list of them", mark)
            return
        if frame.merges is None:
            frame.merges = []
        frame.merges.append((sources, frame.merge_mark, mark))
        # The merged entries sit in this mapping, one level above `value`'s own.
        frame.height = max(frame.height, height if isinstance(value, dict) else height - 1)

    def apply_merges(self, frame: _Frame) -> None:
        """Add merged entries the mapping lacks; the earliest `<<` source wins."""
        own = frame.container
        merged: dict = {}
        for sources, key_mark, value_mark in frame.merges:
            for source in sources:
                for key, value in source.items():
                    if key in merged or key in own:
                        continue
                    merged[key] = value
                    if frame.path is not None:  # point at the `<<` line
                        self.keys[(*frame.path, key)] = key_mark
                        self.values[(*frame.path, key)] = value_mark
        merged.update(own)  # merged entries first, as PyYAML orders them
        frame.container = merged


def _tag_problem(tag: str, kind: str) -> str:
    if tag in _SCALAR_TAGS or tag in (_MAP_TAG, _SEQ_TAG):
        return f"the YAML tag {_tag_name(tag)} cannot be used on {kind}"
    return (f"unsupported YAML tag {_tag_name(tag)!r} (only !!str, !!int, !!float, "
            "!!bool, !!null, !!map and !!seq are allowed)")


def _mark(yaml_mark) -> Mark:
    return Mark(yaml_mark.line + 1, yaml_mark.column + 1)


# --- Text: size, encoding, characters ---------------------------------------------

# The characters YAML allows in a stream (what PyYAML's reader checks).
_NOT_PRINTABLE = re.compile(
    "[^\x09\x0A\x0D\x20-\x7E\x85\xA0-\uD7FF\uE000-\uFFFD\U00010000-\U0010FFFF]")


def _text_error(code: Code, text: str, index: int, message: str, filename: str) -> Diagnostic:
    line = text.count("\n", 0, index) + 1
    column = index - (text.rfind("\n", 0, index) + 1) + 1
    return Diagnostic(code, message, Location(filename, line, column))


def _decode(source: str | bytes, filename: str) -> str:
    """The text of the file; refuses what is too large or is not text."""
    if isinstance(source, str):
        size = len(source.encode("utf-8", "surrogatepass"))
    else:
        size = len(source)
    if size > MAX_BYTES:
        raise SpecError([Diagnostic(Code.TOO_LARGE, f"file is {size:,} bytes; the limit is {MAX_BYTES:,} bytes",
                                    Location(filename, 1, 1))])
    if isinstance(source, str):
        text = source[1:] if source.startswith("\ufeff") else source
    else:
        try:
            text = bytes(source).decode("utf-8-sig")
        except UnicodeDecodeError as error:
            data = bytes(source)
            prefix = data[: error.start].decode("utf-8", "replace")
            byte = data[error.start]
            raise SpecError([_text_error(Code.NOT_TEXT, prefix, len(prefix),
                                         f"file is not UTF-8 text (byte 0x{byte:02x}); "
                                         "is it a binary file?", filename)]) from None
    bad = _NOT_PRINTABLE.search(text)
    if bad is not None:
        message = (f"character U+{ord(bad.group()):04X} is not allowed in YAML; "
                   "is this a binary file?")
        raise SpecError([_text_error(Code.NOT_TEXT, text, bad.start(), message, filename)])
    return text


def _syntax_diagnostic(error: yaml.MarkedYAMLError, filename: str) -> Diagnostic:
    """`invalid YAML: <problem> (<context> at line L, column C)`, at the problem."""
    message = error.problem or error.context or "syntax error"
    mark = error.problem_mark or error.context_mark
    if error.problem and error.context:
        where, context = "", error.context_mark
        if context is not None and mark is not None and (
                (context.line, context.column) != (mark.line, mark.column)):
            where = f" at line {context.line + 1}, column {context.column + 1}"
        message += f" ({error.context}{where})"
    location = None
    if mark is not None:
        location = Location(filename, mark.line + 1, mark.column + 1)
    return Diagnostic(Code.YAML_SYNTAX, f"invalid YAML: {message}", location)


def read_yaml(source: str | bytes, filename: str) -> YamlDocument:
    """Read one YAML document; raises SpecError listing every mistake, located."""
    text = _decode(source, filename)
    builder = _Builder(filename)
    try:
        builder.build(text)
    except _LibyamlNestingLimit as limit:
        # libyaml refuses 1000 levels while scanning ahead, before it hands us
        # the node that crosses our own, lower limit. Read the text up to that
        # point again to find that node.
        first = builder
        builder = _Builder(filename)
        builder.build(text[: limit.index], retry=False)
        if not builder.too_deep:
            builder.diagnostics = first.diagnostics + [first.located(
                Code.TOO_LARGE, f"nesting is deeper than {MAX_DEPTH} levels", limit.mark)]
    if builder.diagnostics:
        raise SpecError(builder.diagnostics)
    return YamlDocument(filename, builder.data, builder.values, builder.keys)
