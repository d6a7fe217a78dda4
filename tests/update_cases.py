"""Rewrite the spec cases' expectations from what specc reports, for review in the diff.

    .venv/bin/python tests/update_cases.py              # every case (also: make cases)
    .venv/bin/python tests/update_cases.py CASE...      # some: files or folders, e.g. tests/cases/invalid specs/mlp.yaml

- an invalid or build_errors case gets its `# expect:` lines rewritten (in place
  of the old ones, or at the end of the file) from the errors specc reports;
- a valid case (or an example spec in specs/) gets its golden IR file rewritten
  with `specc.ir.dump(specc.load(case))`.

A case that fails at another stage than its folder says (or not at all) is left
as it is and reported. Exit status: 0 when every case given could be written,
1 otherwise, 2 for a path that is not a case. See tests/cases/README.md.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")  # as tests/conftest.py: the build_errors cases build with it

from spec_cases import (CASES, ROOT, Case, WrongStage, all_cases, case_of, expectation, expectations, lowered,  # noqa: E402
                        reported, unlocated, with_expectations)

TRIES = 3  # rewriting can move the YAML below the expectations, and so the positions they state


def selected(arguments: list[str]) -> list[Case]:
    if not arguments:
        return all_cases()
    chosen: list[Case] = []
    every = all_cases()
    for argument in arguments:
        path = (Path.cwd() / argument).resolve()  # as the person typed it, from where they are
        if path.is_dir():
            chosen += [case for case in every if (ROOT / case.path).resolve().is_relative_to(path)]
        elif path.is_file():
            chosen.append(case_of(path.relative_to(ROOT)))
        else:
            raise ValueError(f"{argument}: no such file or folder")
    return list(dict.fromkeys(chosen))


def update_golden(case: Case) -> str:
    dump = lowered(case)
    golden = ROOT / case.golden
    if golden.is_file() and golden.read_bytes() == dump.encode("utf-8"):
        return "unchanged"
    golden.write_bytes(dump.encode("utf-8"))
    return f"wrote {case.golden}"


def update_expectations(case: Case) -> str:
    path = ROOT / case.path
    original = path.read_bytes()
    for _ in range(TRIES):
        diagnostics = reported(case)
        if unlocated(diagnostics):
            raise WrongStage(f"{case.path}: specc reports errors without a position (a specc bug): {unlocated(diagnostics)}")
        lines = [expectation(d, case) for d in diagnostics]
        if lines == expectations(case.path):
            return "unchanged" if path.read_bytes() == original else f"rewrote {case.path}"
        path.write_text(with_expectations(path.read_text(encoding="utf-8"), lines), encoding="utf-8")
    path.write_bytes(original)
    raise WrongStage(f"{case.path}: its errors move each time its '# expect:' lines are rewritten: "
                     "put them at the end of the file")


def main(arguments: list[str]) -> int:
    try:
        chosen = selected(arguments)
    except ValueError as err:
        print(f"update_cases: {err} (cases are tests/cases/{{valid,invalid,build_errors}}/*.yaml and specs/*.yaml)",
              file=sys.stderr)
        return 2
    os.chdir(ROOT)  # specc shows paths relative to the working folder, as the tests see them
    failed = 0
    for case in chosen:
        try:
            done = update_golden(case) if case.stage is None else update_expectations(case)
        except WrongStage as wrong:
            failed += 1
            print(f"NOT UPDATED: {wrong}", file=sys.stderr)
            continue
        if done != "unchanged":
            print(done)
    print(f"{len(chosen)} cases, {failed} not updated; review the changes with `git diff {CASES.relative_to(ROOT)} "
          "tests/golden`", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
