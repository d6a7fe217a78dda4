"""The spec cases, as data: one runner for every folder of tests/cases (see tests/cases/README.md).

- valid/ (and the example specs in specs/): each loads, lowers to exactly the
  IR dump in its `.ir` golden file, has no `# expect:` line, and builds;
- invalid/: each fails at `specc.load` with exactly the located errors its
  `# expect: LINE:COLUMN: WHERE: MESSAGE` lines list, in order;
- build_errors/: each loads, and fails at `specc.build_model` the same way.

When specc's output changes on purpose, `.venv/bin/python tests/update_cases.py
[CASE...]` (`make cases`) rewrites the expectations and goldens for review in the diff.
"""

from __future__ import annotations

import pytest

import specc
from spec_cases import (CASES, GOLDEN, ROOT, STAGES, UPDATE, Case, build, cases, expectation, expectations, lowered,
                        reported, short_diff, unlocated, with_expectations)

VALID = cases("valid")
FAILING = cases(*(folder for folder, stage in STAGES.items() if stage))


@pytest.fixture(autouse=True)
def from_repository_root(monkeypatch):
    # Messages show paths relative to the working folder, as a person types them.
    monkeypatch.chdir(ROOT)


def refresh(case: Case) -> str:
    return f"if specc's new output is right, run `{UPDATE} {case.path}` (all cases: `make cases`) and review the diff"


def test_every_folder_of_cases_says_what_its_cases_must_do():
    folders = sorted(p.name for p in CASES.iterdir() if p.is_dir())
    assert folders == sorted(STAGES), "a folder under tests/cases that tests/spec_cases.py's STAGES does not know"


def test_every_golden_ir_file_has_its_case():
    goldens = {case.golden for case in VALID}
    stray = [p.relative_to(ROOT) for p in [*CASES.rglob("*.ir"), *GOLDEN.glob("*.ir")] if p.relative_to(ROOT) not in goldens]
    assert not stray, "golden IR files without a valid case (the case was renamed or removed, or is not valid/): delete them"


@pytest.mark.parametrize("case", VALID, ids=lambda case: case.id)
def test_valid_case_lowers_to_its_golden_ir(case: Case):
    assert not expectations(case.path), f"{case.path} is a valid case, but has '# expect:' lines"
    dump = lowered(case)  # raises WrongStage, an AssertionError, for a case that does not load
    golden = ROOT / case.golden
    assert golden.is_file(), f"{case.golden} is missing: run `{UPDATE} {case.path}` and commit it"
    old = golden.read_bytes().decode("utf-8")
    if old != dump:
        pytest.fail(f"{case.path} no longer lowers to {case.golden}; {refresh(case)}\n"
                    + short_diff(old, dump, str(case.golden), "specc.ir.dump(specc.load(case))"))


@pytest.mark.parametrize("case", VALID, ids=lambda case: case.id)
def test_valid_case_builds(case: Case):
    import keras

    spec = specc.load(case.path)
    model = build(spec)  # raises for a spec that does not build
    assert isinstance(model, keras.Model) and model.name == spec.name


@pytest.mark.parametrize("case", FAILING, ids=lambda case: case.id)
def test_case_reports_exactly_its_errors(case: Case):
    expected = expectations(case.path)
    assert expected, f"{case.path} has no '# expect:' lines: write them, or run `{UPDATE} {case.path}` and review them"
    diagnostics = reported(case)  # raises WrongStage, an AssertionError, for a case failing elsewhere or not at all
    assert not unlocated(diagnostics), f"specc reported errors without a position (a specc bug): {unlocated(diagnostics)}"
    assert [expectation(d, case) for d in diagnostics] == expected, (
        f"{case.path}: specc reports other errors than its '# expect:' lines; {refresh(case)}")


def test_rewritten_expectations_take_the_place_of_the_old_ones():
    text = "specc: 1\nname: x\n# expect: 1:1: old\n# expect: 2:1: old too\n"
    assert with_expectations(text, ["1:1: new"]) == "specc: 1\nname: x\n# expect: 1:1: new\n"
    assert with_expectations("specc: 1", ["1:1: first", "1:2: second"]) == (
        "specc: 1\n# expect: 1:1: first\n# expect: 1:2: second\n")

