"""The spec cases in tests/cases, as data: every valid case loads; every invalid
case fails with exactly the located errors its `# expect:` lines list.

An expectation is `# expect: LINE:COLUMN: WHERE: MESSAGE`, the diagnostic
without the file name (or with it, `# expect: other.yaml:LINE:...`, when the
error is in another file, e.g. one the case extends). Files under a `_support`
folder are only used by other cases.
"""

from pathlib import Path

import pytest

import specc

CASES = Path(__file__).parent / "cases"
ROOT = CASES.parent.parent  # the example specs in specs/ are valid cases too


@pytest.fixture(autouse=True)
def from_repository_root(monkeypatch):
    # Messages show paths relative to the working folder, as a person types them.
    monkeypatch.chdir(ROOT)


def case_files(kind: str) -> list[Path]:
    return sorted(p.relative_to(ROOT) for p in (CASES / kind).rglob("*.yaml") if "_support" not in p.parts)


def expectations(path: Path) -> list[str]:
    prefix = "# expect: "
    return [line[len(prefix):].rstrip() for line in path.read_text(encoding="utf-8").splitlines() if line.startswith(prefix)]


def relative(diagnostic: specc.Diagnostic, case: Path) -> str:
    loc = diagnostic.location
    text = diagnostic.format().split(": error: ", 1)[1]
    where = f"{loc.line}:{loc.column}" if Path(loc.file) == case else f"{Path(loc.file).name}:{loc.line}:{loc.column}"
    return f"{where}: {text}"


EXAMPLES = sorted(p.relative_to(ROOT) for p in (ROOT / "specs").glob("*.yaml"))


@pytest.mark.parametrize("case", EXAMPLES + case_files("valid"), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_valid_case_loads(case: Path):
    spec = specc.load(case)
    assert spec.graph.layers, "a valid spec lowers to at least one layer"


@pytest.mark.parametrize("case", case_files("invalid"), ids=lambda p: p.stem)
def test_invalid_case_reports_exactly_its_errors(case: Path):
    expected = expectations(case)
    assert expected, f"{case.name} has no '# expect:' lines"
    with pytest.raises(specc.SpecError) as raised:
        specc.load(case)
    assert [relative(d, case) for d in raised.value.diagnostics] == expected
