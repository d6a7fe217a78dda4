"""The spec cases as data: where they are, what each folder requires, and their expectations.

Used by tests/test_cases.py (which checks every case) and tests/update_cases.py
(which rewrites the expectations from what specc reports). tests/cases/README.md
says the same for a person adding a case.

- `tests/cases/valid/NAME.yaml` loads, lowers to the IR written in `NAME.ir`
  beside it (`specc.ir.dump`), and builds. The example specs `specs/NAME.yaml`
  are valid cases too; their IR is in `tests/golden/NAME.ir`.
- `tests/cases/invalid/NAME.yaml` fails at `specc.load` (validation, lowering).
- `tests/cases/build_errors/NAME.yaml` loads, and fails at `specc.build_model`.

The two failing kinds list the errors specc must report, exactly and in order,
as comment lines `# expect: LINE:COLUMN: WHERE: MESSAGE` (the diagnostic without
its file name), or `# expect: other.yaml:LINE:COLUMN: WHERE: MESSAGE` for an
error in another file (one the case extends). Files under a `_support` folder
are only used by other cases.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

import specc
import specc.ir

ROOT = Path(__file__).resolve().parent.parent
CASES = ROOT / "tests" / "cases"
GOLDEN = ROOT / "tests" / "golden"
EXAMPLES = ROOT / "specs"

UPDATE = ".venv/bin/python tests/update_cases.py"  # what a failing test tells a person to run (also `make cases`)
PREFIX = "# expect: "

# Each folder under tests/cases, and the stage that must fail on its cases (None: nothing may fail).
STAGES: dict[str, str | None] = {
    "valid": None,
    "invalid": "load",
    "build_errors": "build",
}


@dataclass(frozen=True)
class Case:
    """One spec file to check. `path` is relative to the repository root, as a person types it."""

    path: Path
    folder: str  # a key of STAGES

    @property
    def stage(self) -> str | None:
        return STAGES[self.folder]

    @property
    def golden(self) -> Path:
        """The IR a valid case lowers to: NAME.ir beside it, or in tests/golden/ for an example spec."""
        if self.path.parts[0] == EXAMPLES.name:
            return GOLDEN.relative_to(ROOT) / f"{self.path.stem}.ir"
        return self.path.with_suffix(".ir")

    @property
    def id(self) -> str:
        return f"{self.path.parent.name}/{self.path.stem}"


def case_of(path: Path | str) -> Case:
    """The case a spec file is, from its folder (specs/ holds valid cases)."""
    relative = (ROOT / path).resolve().relative_to(ROOT)
    if relative.parent == EXAMPLES.relative_to(ROOT):
        return Case(relative, "valid")
    inside = relative.relative_to(CASES.relative_to(ROOT))  # ValueError: not a case
    if "_support" in inside.parts or inside.parts[0] not in STAGES or relative.suffix != ".yaml":
        raise ValueError(f"{path} is not a spec case")
    return Case(relative, inside.parts[0])


def all_cases() -> list[Case]:
    """The example specs, then every case in tests/cases, folder by folder."""
    paths = sorted(EXAMPLES.glob("*.yaml"))
    for folder in STAGES:
        paths += sorted(p for p in (CASES / folder).rglob("*.yaml") if "_support" not in p.relative_to(CASES).parts)
    return [case_of(p) for p in paths]


def cases(*folders: str) -> list[Case]:
    return [case for case in all_cases() if case.folder in folders]


# -- what a case expects -------------------------------------------------------------


def expectations(path: Path | str) -> list[str]:
    """The case's `# expect:` lines, without the prefix."""
    return [line[len(PREFIX):].rstrip() for line in Path(ROOT / path).read_text(encoding="utf-8").splitlines()
            if line.startswith(PREFIX)]


def with_expectations(text: str, lines: list[str]) -> str:
    """The case's text with its `# expect:` lines replaced by `lines`: where the first one was, else at the end.

    Every other line keeps its place, so the positions in the YAML above the expectations hold.
    """
    rows = text.splitlines(keepends=True)
    old = [i for i, row in enumerate(rows) if row.startswith(PREFIX)]
    block = [f"{PREFIX}{line}\n" for line in lines]
    if not old:
        if rows and not rows[-1].endswith("\n"):
            rows[-1] += "\n"
        return "".join(rows + block)
    kept = [row for i, row in enumerate(rows) if i not in set(old)]
    return "".join(kept[:old[0]] + block + kept[old[0]:])


def expectation(diagnostic: specc.Diagnostic, case: Case) -> str:
    """A located diagnostic as an `# expect:` line says it: without the case's own file name."""
    loc = diagnostic.location
    text = diagnostic.format().split(": error: ", 1)[1].replace("\n", "\\n")  # one line, as it is read back
    here = Path(loc.file).resolve() == (ROOT / case.path).resolve()
    return f"{'' if here else Path(loc.file).name + ':'}{loc.line}:{loc.column}: {text}".rstrip()


# -- what specc does with a case -----------------------------------------------------


class WrongStage(AssertionError):
    """A case that fails at another stage than its folder says (or does not fail at all)."""


def listed(err: specc.SpecError) -> str:
    return "\n".join(f"  {d.format()}" for d in err.diagnostics)


def reported(case: Case) -> list[specc.Diagnostic]:
    """The errors specc reports for an invalid or build_errors case, at the stage its folder names.

    Raises WrongStage when it fails elsewhere, or not at all.
    """
    try:
        spec = specc.load(case.path)
    except specc.SpecError as err:
        if case.stage == "load":
            return err.diagnostics
        raise WrongStage(f"{case.path} must load and fail only at build_model, but specc.load reports:\n"
                         f"{listed(err)}") from None
    if case.stage == "load":
        raise WrongStage(f"{case.path} loads without an error: an invalid case must fail at specc.load "
                         "(a case that loads but does not build belongs in tests/cases/build_errors/)")
    try:
        build(spec)
    except specc.SpecError as err:
        return err.diagnostics
    raise WrongStage(f"{case.path} builds without an error: a build_errors case must fail at specc.build_model")


def build(spec: specc.Spec):
    """build_model as in a new process (`specc build`), so Keras's name counters start afresh."""
    import keras

    keras.backend.clear_session()
    return specc.build_model(spec)


def unlocated(diagnostics: list[specc.Diagnostic]) -> list[str]:
    return [d.format() for d in diagnostics if d.location is None]


def lowered(case: Case) -> str:
    """The IR dump a valid case's golden file must hold."""
    try:
        return specc.ir.dump(specc.load(case.path))
    except specc.SpecError as err:
        raise WrongStage(f"{case.path} is a valid case, but specc.load reports:\n{listed(err)}") from None


def short_diff(old: str, new: str, old_name: str, new_name: str, limit: int = 60) -> str:
    lines = list(difflib.unified_diff(old.splitlines(), new.splitlines(), old_name, new_name, lineterm=""))
    return "\n".join(lines[:limit] + ([f"... ({len(lines) - limit} more diff lines)"] if len(lines) > limit else []))
