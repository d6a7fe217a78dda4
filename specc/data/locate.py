"""Located errors for the data stage: a problem with the data, pointed at the spec line that caused it.

The data is read after validation, from a `Spec`; the positions of its YAML
nodes come from the SourceMap `specc.load` keeps on it (`spec.positions`), or
else from reading the spec's source again (cheap: the spec and the files it extends).
"""

from __future__ import annotations

from specc.codes import Code
from specc.errors import Diagnostic, Location, SpecError, dotted


class Locator:
    """Turns a path in the spec, like ("data", "source", "npz", "x"), into locations and SpecErrors."""

    def __init__(self, spec):
        self.spec = spec
        self._positions = None
        self._loaded = False

    @property
    def positions(self):
        if not self._loaded:
            self._loaded = True
            self._positions = getattr(self.spec, "positions", None)  # the SourceMap specc.load kept, when it kept one
            if self._positions is None:
                from specc.source.files import load_source

                try:
                    self._positions = load_source(self.spec.path).positions
                except (SpecError, OSError):  # the file changed or vanished since it was loaded: locate at its top
                    self._positions = None
        return self._positions

    def location(self, path: tuple, *, at_key: bool = False) -> Location:
        found = None
        if self.positions is not None:
            found = self.positions.key(path) if at_key else self.positions.value(path)
        return found or Location(str(self.spec.path), 1, 1)

    def error(self, code: Code, path: tuple, message: str, *, where: str | None = None, at_key: bool = False) -> SpecError:
        """A SpecError of `code` at `path`; `where` defaults to the path itself (its mapping, when the key is the problem)."""
        if where is None:
            where = dotted(path[:-1] if at_key else path)
        return SpecError([Diagnostic(code, message, self.location(path, at_key=at_key), where)])
