"""Reports (code, path, where, message) from every pass, located through the SourceMap and raised together."""

from __future__ import annotations

from specc.codes import Code
from specc.errors import Diagnostic, Location, SpecError
from specc.source import SourceMap


class Collector:
    """Turns (code, path, where, message) reports into located diagnostics."""

    def __init__(self, positions: SourceMap):
        self.positions = positions
        self.diagnostics: list[Diagnostic] = []

    def __call__(self, code: Code, path: tuple, where: str, message: str, at_key: bool = False) -> None:
        location = self.positions.key(path) if at_key else self.positions.value(path)
        if location is None:  # an empty file has no nodes to point at
            location = Location(self.positions.file, 1, 1)
        self.diagnostics.append(Diagnostic(code, message, location, where))

    def raise_if_any(self) -> None:
        if self.diagnostics:
            raise SpecError(sorted_unique(self.diagnostics))


def sorted_unique(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    """One diagnostic per distinct text (block copies repeat theirs), in file order."""
    unique = list({d.format(): d for d in diagnostics}.values())

    def position(d: Diagnostic):
        loc = d.location
        return (loc.file, loc.line, loc.column) if loc else ("", 0, 0)

    return sorted(unique, key=position)
