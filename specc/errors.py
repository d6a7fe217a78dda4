"""One error type for every mistake in a spec, located in the YAML.

A `SpecError` carries every `Diagnostic` found in a file, so a person fixes
them all in one pass. Internal errors (bugs in specc) are never wrapped: they
keep their traceback.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

from specc.codes import Code


@dataclass(frozen=True, slots=True)
class Location:
    """A place in a file: 1-based line and column."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One problem: what kind it is, where it is, which part of the spec, and what is wrong.

    `code` is the kind of mistake (`K102`, a `specc.codes.Code`): stable, where
    the message's text may change. `where` names the spec object, as a person
    reads it: `model.layers[3] (Dense)`; `message` says what is wrong with it,
    starting with the argument when there is one: `units: Input should be
    greater than 0`.
    """

    code: str
    message: str
    location: Location | None = None
    where: str = ""

    def __post_init__(self) -> None:
        Code(self.code)  # a ValueError for a code that specc.codes does not define: a bug in specc

    def format(self) -> str:
        prefix = f"{self.location}: error: " if self.location else "error: "
        return prefix + (f"{self.where}: {self.message}" if self.where else self.message)

    def as_json(self) -> dict:
        loc = self.location
        return {
            "file": loc.file if loc else None,
            "line": loc.line if loc else None,
            "column": loc.column if loc else None,
            "code": str(self.code),
            "where": self.where,
            "message": self.message,
        }


@dataclass
class SpecError(Exception):
    """Raised for any user mistake in a spec; holds every diagnostic found."""

    diagnostics: list[Diagnostic] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(self.__str__())

    def __str__(self) -> str:
        return "\n".join(d.format() for d in self.diagnostics)


class UnreadableSpec(SpecError):
    """The file could not be read at all (missing, a folder, no permission): a usage error."""


def did_you_mean(name: object, candidates: Iterable[str]) -> str:
    """' Did you mean 'X'?' for the closest candidate, or '' when none is close."""
    if not isinstance(name, str):
        return ""
    import difflib  # only on the error path: it costs a tenth of `specc validate`'s start-up

    pool = list(candidates)
    # Short names differ a lot in ratio for one character: L3 vs L2 scores 0.5.
    matches = difflib.get_close_matches(name, pool, n=1, cutoff=0.5 if len(name) <= 4 else 0.6)
    if not matches:
        # Case slips (`dense` for `Dense`) are common and difflib scores them low.
        lowered = {c.lower(): c for c in pool}
        if name.lower() in lowered:
            matches = [lowered[name.lower()]]
    return f" Did you mean '{matches[0]}'?" if matches else ""


def shown_path(path) -> str:
    """A file path as a person would type it: relative to the working folder when inside it."""
    from pathlib import Path

    resolved = Path(path).resolve()
    try:
        return str(resolved.relative_to(Path.cwd()))
    except ValueError:
        return str(resolved)


def dotted(path: tuple) -> str:
    """('model', 'layers', 3) -> 'model.layers[3]'."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def split_where(path: tuple) -> tuple[str, str]:
    """A path as (the object a person knows, the argument inside it).

    ('model', 'layers', 3, 'Dense', 'units') -> ('model.layers[3] (Dense)', 'units');
    ('train', 'epochs') -> ('train', 'epochs').
    """
    for head in (("model", "layers"), ("model", "blocks")):
        size = 3 if head[1] == "layers" else 5
        if path[:2] == head and len(path) > size and isinstance(path[size - 1], int):
            return f"{dotted(path[:size])} ({path[size]})", dotted(path[size + 1:])
    if path and isinstance(path[-1], str):
        return dotted(path[:-1]), path[-1]
    return dotted(path), ""


def describe(value: object, limit: int = 60) -> str:
    """A short rendering of a received value for messages."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
