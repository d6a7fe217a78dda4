"""Stage 1, load: a spec file (and the files it extends) as plain data with positions.

`load_source(path)` reads the YAML safely (see `specc.source.yaml_reader`), follows
`extends:` chains relative to each file, and deep-merges each spec over its
base: mappings merge key by key, anything else (lists included) replaces. The
`SourceMap` remembers, for every node of the merged data, the file, line and
column it came from, so later stages can point at the user's own text.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from specc.codes import Code
from specc.errors import Diagnostic, Location, SpecError, UnreadableSpec, describe, shown_path
from specc.source.yaml_reader import MAX_BYTES, YamlDocument, read_yaml

MAX_EXTENDS_DEPTH = 32


class SourceMap:
    """Where each node of a (merged) spec was written.

    Lookups take the deepest recorded node on the path, so a path that goes
    below what was recorded (inside an alias, or a synthetic path from a
    validator) still points at the nearest enclosing text. With `extends`,
    the spec's own file wins over its base on equal depth.
    """

    def __init__(self, doc: YamlDocument, base: "SourceMap | None" = None):
        self._doc = doc
        self._base = base
        self._overrides: dict[tuple, Location] = {}  # `--set` values: path -> where on the command line

    @property
    def file(self) -> str:
        return self._doc.filename

    def _find(self, path: tuple, key: bool) -> tuple[int, Location | None]:
        for written, location in self._overrides.items():
            # The value at `path` came from the command line, or `path` leads into what it created.
            if path[: len(written)] == written or written[: len(path)] == path:
                return len(path), location
        depth, loc = _deepest(self._doc, path, key)
        if self._base is not None:
            base_depth, base_loc = self._base._find(path, key)
            if base_depth > depth:
                return base_depth, base_loc
        return depth, loc

    def override(self, path: tuple, location: Location) -> None:
        """Record that a `--set` replaced the value at `path`."""
        self._overrides[tuple(path)] = location

    def value(self, path: tuple) -> Location | None:
        """Where the value at `path` starts."""
        return self._find(tuple(path), key=False)[1]

    def key(self, path: tuple) -> Location | None:
        """Where the key of the mapping entry at `path` starts (its value, for list items)."""
        return self._find(tuple(path), key=True)[1]


def _deepest(doc: YamlDocument, path: tuple, key: bool) -> tuple[int, Location | None]:
    marks = doc.keys if key else doc.values
    if key and path in marks:
        mark = marks[path]
        return len(path), Location(doc.filename, mark.line, mark.column)
    for depth in range(len(path), -1, -1):
        mark = doc.values.get(path[:depth])
        if mark is not None:
            return depth, Location(doc.filename, mark.line, mark.column)
    return -1, None


@dataclass
class Source:
    """A spec's merged data, where it came from, and its own path."""

    path: str
    data: Any
    positions: SourceMap
    files: tuple[str, ...]  # the spec and every file it extends, in merge order (base first)


def read_file(path: str | os.PathLike) -> YamlDocument:
    """One YAML file, or a SpecError saying why it cannot be read."""
    name = str(path)

    def unreadable(why: str) -> UnreadableSpec:
        return UnreadableSpec([Diagnostic(Code.UNREADABLE_FILE, f"cannot read file: {why}", Location(name, 1, 1))])

    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise unreadable("not a regular file")  # a FIFO would block forever, /dev/zero never end
        with open(path, "rb") as handle:
            # One byte past the limit is enough for the reader to refuse the file by size.
            raw = handle.read(MAX_BYTES + 1)
    except (OSError, ValueError) as err:  # ValueError: a NUL byte in the path
        raise unreadable(getattr(err, "strerror", None) or str(err)) from None
    if len(raw) > MAX_BYTES:
        size = os.stat(path).st_size
        raise SpecError([Diagnostic(Code.TOO_LARGE, f"file is {size:,} bytes; the limit is {MAX_BYTES:,} bytes", Location(name, 1, 1))])
    return read_yaml(raw, name)


def load_source(path: str | os.PathLike) -> Source:
    """Read a spec and everything it extends, merged into one document."""
    return _load(Path(path), chain=())


def _load(path: Path, chain: tuple[Path, ...]) -> Source:
    doc = read_file(path)
    data = doc.data
    if not isinstance(data, dict) or "extends" not in data:
        return Source(str(path), data, SourceMap(doc), (str(path),))

    target = data["extends"]
    where = Location(doc.filename, *_mark(doc, ("extends",)))
    if not isinstance(target, str) or not target or "\0" in target:
        raise SpecError([Diagnostic(Code.EXTENDS_FILE, f"expected a file path; received {describe(target)}", where, "extends")])
    base_path = (path.parent / target).resolve()
    seen = chain + (path.resolve(),)
    if base_path in seen:
        cycle = " -> ".join(shown_path(p) for p in (*seen[seen.index(base_path):], base_path))
        raise SpecError([Diagnostic(Code.EXTENDS_CHAIN, f"cycle: {cycle}", where, "extends")])
    if len(seen) > MAX_EXTENDS_DEPTH:
        raise SpecError([Diagnostic(Code.EXTENDS_CHAIN, f"chain deeper than {MAX_EXTENDS_DEPTH} files", where, "extends")])
    try:
        found = base_path.is_file()
    except OSError as err:  # a name too long for the file system, say
        raise SpecError([Diagnostic(Code.EXTENDS_FILE, f"cannot use {describe(target)}: {err.strerror}", where, "extends")]) from None
    if not found:
        raise SpecError([Diagnostic(Code.EXTENDS_FILE, f"no such file: {target} (looked at {shown_path(base_path)})", where, "extends")])

    base = _load(Path(shown_path(base_path)), seen)
    own = {k: v for k, v in data.items() if k != "extends"}
    merged = deep_merge(base.data, own) if isinstance(base.data, dict) else own
    return Source(str(path), merged, SourceMap(doc, base.positions), base.files + (str(path),))


def _mark(doc: YamlDocument, path: tuple) -> tuple[int, int]:
    mark = doc.value_mark(path)
    return (mark.line, mark.column) if mark else (1, 1)


def deep_merge(base: Any, override: Any) -> Any:
    """`override` over `base`: mappings merge recursively, anything else replaces."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = deep_merge(base[key], value) if key in base else value
        return merged
    return override
