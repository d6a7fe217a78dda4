"""The `specc` command line: exit codes, the located one-line diagnostics, JSON
output, folder search, `specc schema` wiring, and that `validate` never
imports TensorFlow or Keras.

Most tests call `specc.cli.main([...])` in-process (fast); a few run
`python -m specc` in a subprocess, end to end. The individual error messages
are covered by tests/test_cases.py; here only their plumbing is checked.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import specc
from specc.cli import main

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"

VALID = textwrap.dedent("""\
    specc: 1
    name: ok
    model:
      layers:
        - Dense: {units: 4, input_shape: [3]}
    """)

# Two located problems, columns counted by hand:
#   line 5: `    - Dense: {units: 0, input_shape: [4]}`  -> the 0 is at column 22
#   line 6: `    - Dense: {units: 2, activaton: relu}`   -> `activaton` is at column 25
INVALID = textwrap.dedent("""\
    specc: 1
    name: bad
    model:
      layers:
        - Dense: {units: 0, input_shape: [4]}
        - Dense: {units: 2, activaton: relu}
    """)
INVALID_DIAGNOSTICS = [
    "5:22: error: model.layers[0] (Dense): units: Input should be greater than 0 (received 0)",
    "6:25: error: model.layers[1] (Dense): unknown argument 'activaton' for keras.layers.Dense. Did you mean 'activation'?",
]

# Problems in several sections, in block style (positions counted by hand).
MANY_ERRORS = textwrap.dedent("""\
    specc: 1
    name: many
    descripton: typo
    model:
      layers:
        - Dense:
            units: -3
            input_shape: [4]
    train:
      epochs: 0
      batch_size: many
    """)
MANY_DIAGNOSTICS = [
    "3:1: error: unknown key 'descripton'. Did you mean 'description'?",
    "7:16: error: model.layers[0] (Dense): units: Input should be greater than 0 (received -3)",
    "10:11: error: train: epochs: Input should be greater than 0 (received 0)",
    "11:15: error: train: batch_size: Input should be a valid integer (received 'many')",
]


def spec_count(folder: Path) -> int:
    """The specs a folder's walk validates: not those of a project of their own below it (specs/vae/)."""
    projects = [p.parent for p in folder.rglob("pyproject.toml") if p.parent != folder]
    return sum(1 for p in folder.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file()
               and not any(project in p.parents for project in projects))


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    """Run the CLI in-process: (exit code, stdout, stderr)."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return int(code), out, err


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def in_repo(monkeypatch):
    monkeypatch.chdir(ROOT)


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


# -- validate: valid specs -------------------------------------------------------


def test_validate_specs_folder_is_valid(capsys, in_repo):
    n = spec_count(SPECS)
    assert n >= 2
    code, out, err = cli(capsys, "validate", "specs")
    assert code == 0
    assert out == ""
    assert f"{n} specs valid" in err
    # the example projects (their own pyproject.toml and plugins) are validated in their own folders
    assert "specc: skipped specs/vae: a project of its own (its pyproject.toml)" in err


def test_validate_one_valid_file(capsys, in_repo):
    code, out, err = cli(capsys, "validate", "specs/mlp.yaml")
    assert code == 0
    assert out == ""
    assert "1 spec valid" in err


def test_validate_several_valid_files_and_folders(capsys, in_repo):
    code, out, err = cli(capsys, "validate", "specs/mlp.yaml", "specs", "tests/cases/valid")
    total = 1 + spec_count(SPECS) + spec_count(ROOT / "tests" / "cases" / "valid")
    assert code == 0
    assert out == ""
    assert f"{total} specs valid" in err


# -- validate: invalid specs -----------------------------------------------------


def test_invalid_spec_prints_exact_located_lines(capsys, in_tmp):
    write(in_tmp / "bad.yaml", INVALID)
    code, out, err = cli(capsys, "validate", "bad.yaml")
    assert code == 1
    assert out.splitlines() == [f"bad.yaml:{d}" for d in INVALID_DIAGNOSTICS]
    assert "1 of 1 spec invalid (2 errors)" in err


def test_file_path_is_shown_as_given(capsys, in_tmp):
    nested = write(in_tmp / "sub" / "dir" / "bad.yaml", INVALID)
    for given in ("sub/dir/bad.yaml", str(nested)):
        code, out, _ = cli(capsys, "validate", given)
        assert code == 1
        assert out.splitlines() == [f"{given}:{d}" for d in INVALID_DIAGNOSTICS]


def test_every_error_in_a_file_is_reported(capsys, in_tmp):
    write(in_tmp / "many.yaml", MANY_ERRORS)
    code, out, err = cli(capsys, "validate", "many.yaml")
    assert code == 1
    assert out.splitlines() == [f"many.yaml:{d}" for d in MANY_DIAGNOSTICS]
    assert f"({len(MANY_DIAGNOSTICS)} errors)" in err


def test_every_line_has_the_documented_shape(capsys, in_repo):
    code, out, _ = cli(capsys, "validate", "tests/cases/invalid")
    assert code == 1
    lines = out.splitlines()
    assert lines
    for line in lines:
        file, lineno, column, rest = line.split(":", 3)
        assert Path(file).suffix in (".yaml", ".yml"), line
        assert int(lineno) >= 1 and int(column) >= 1, line
        assert rest.startswith(" error: "), line


def test_one_valid_and_one_invalid_file(capsys, in_tmp):
    write(in_tmp / "good.yaml", VALID)
    write(in_tmp / "bad.yaml", INVALID)
    code, out, err = cli(capsys, "validate", "good.yaml", "bad.yaml")
    assert code == 1
    assert out.splitlines() == [f"bad.yaml:{d}" for d in INVALID_DIAGNOSTICS]
    assert "good.yaml" not in out
    assert "1 of 2 specs invalid" in err


def test_two_invalid_files_report_both(capsys, in_tmp):
    write(in_tmp / "a.yaml", INVALID)
    write(in_tmp / "b.yaml", MANY_ERRORS)
    code, out, err = cli(capsys, "validate", "a.yaml", "b.yaml")
    assert code == 1
    assert out.splitlines() == [f"a.yaml:{d}" for d in INVALID_DIAGNOSTICS] + [f"b.yaml:{d}" for d in MANY_DIAGNOSTICS]
    assert "2 of 2 specs invalid (6 errors)" in err


# -- validate: folders -----------------------------------------------------------


@pytest.fixture
def tree(tmp_path):
    """A folder of specs at several depths, among files that are not specs."""
    root = tmp_path / "tree"
    write(root / "a.yaml", VALID)
    write(root / "sub" / "b.yml", VALID)
    write(root / "sub" / "deeper" / "c.yaml", VALID)
    write(root / "odd.yaml.d" / "d.yaml", VALID)  # a folder with a spec-like name is searched, not read
    write(root / "notes.txt", "not: [a spec\n")
    write(root / "README.md", "# hello\n")
    write(root / "e.yaml.bak", "\x00garbage")
    write(root / "sub" / "f.json", "{}")
    write(root / "sub" / "yaml", "{{{{")  # no suffix at all
    return root


def test_folder_search_is_recursive_and_picks_yaml_and_yml(capsys, tree):
    code, out, err = cli(capsys, "validate", "--format", "json", str(tree))
    assert code == 0
    found = {Path(entry["file"]).relative_to(tree).as_posix() for entry in json.loads(out)}
    assert found == {"a.yaml", "sub/b.yml", "sub/deeper/c.yaml", "odd.yaml.d/d.yaml"}
    code, out, err = cli(capsys, "validate", str(tree))
    assert code == 0
    assert "4 specs valid" in err


def test_folder_with_an_invalid_spec_deep_inside(capsys, tree):
    bad = write(tree / "sub" / "deeper" / "c.yaml", INVALID)
    code, out, err = cli(capsys, "validate", str(tree))
    assert code == 1
    assert out.splitlines() == [f"{bad}:{d}" for d in INVALID_DIAGNOSTICS]
    assert "1 of 4 specs invalid" in err


def test_folder_search_order_is_stable(capsys, tree):
    runs = []
    for _ in range(2):
        _code, out, _ = cli(capsys, "validate", "--format", "json", str(tree))
        runs.append([entry["file"] for entry in json.loads(out)])
    assert runs[0] == runs[1] == sorted(runs[0])


def test_folder_without_specs_is_a_usage_error(capsys, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    write(tmp_path / "other" / "notes.txt", "hi\n")
    for folder in (empty, tmp_path / "other"):
        code, out, err = cli(capsys, "validate", str(folder))
        assert code == 2
        assert out == ""
        assert f"no *.yaml or *.yml files under {folder}" in err


def test_missing_path_is_a_usage_error(capsys, in_tmp):
    write(in_tmp / "good.yaml", VALID)
    for argv in (["nope.yaml"], ["good.yaml", "nope.yaml"], ["missing/folder"]):
        code, out, err = cli(capsys, "validate", *argv)
        assert code == 2, argv
        assert out == ""
        assert f"no such file or folder: {argv[-1]}" in err


def test_dangling_symlink_is_a_usage_error(capsys, in_tmp):
    (in_tmp / "x.yaml").symlink_to(in_tmp / "nowhere.yaml")
    code, _out, err = cli(capsys, "validate", "x.yaml")
    assert code == 2
    assert "x.yaml" in err


@pytest.fixture
def unreadable(tmp_path) -> Path:
    """A spec file whose read fails, even for root: a link to /proc/self/mem (EIO at offset 0)."""
    mem = Path("/proc/self/mem")
    if not mem.exists():
        pytest.skip("needs Linux /proc")
    link = tmp_path / "specs" / "x.yaml"
    link.parent.mkdir()
    link.symlink_to(mem)
    try:
        link.read_bytes()
    except OSError:
        return link
    pytest.skip("/proc/self/mem is readable here")


def test_unreadable_file_is_a_located_usage_error(capsys, unreadable):
    code, out, _err = cli(capsys, "validate", str(unreadable))
    assert code == 2
    assert out.startswith(f"{unreadable}:1:1: error: cannot read file")
    assert len(out.splitlines()) == 1


def test_unreadable_file_in_a_folder_wins_over_invalid_ones(capsys, unreadable):
    write(unreadable.parent / "bad.yaml", INVALID)
    write(unreadable.parent / "good.yaml", VALID)
    code, out, _err = cli(capsys, "validate", str(unreadable.parent))
    assert code == 2
    assert f"{unreadable}:1:1: error: cannot read file" in out
    assert f"{unreadable.parent / 'bad.yaml'}:5:22: error:" in out
    code, out, _ = cli(capsys, "validate", "--format", "json", str(unreadable))
    assert code == 2
    (entry,) = json.loads(out)
    assert entry["valid"] is False
    assert entry["errors"][0]["message"].startswith("cannot read file")


def test_overlong_path_is_a_usage_error(capsys, in_tmp):
    name = "a" * 300 + ".yaml"
    code, _out, err = cli(capsys, "validate", name)
    assert code == 2
    assert "Traceback" not in err


def test_empty_path_argument_is_a_usage_error(capsys, in_tmp):
    write(in_tmp / "good.yaml", VALID)  # would be found if '' meant '.'
    code, _out, err = cli(capsys, "validate", "")
    assert code == 2
    assert "no such file or folder" in err


# -- usage -----------------------------------------------------------------------


def test_no_arguments_prints_usage_on_stderr(capsys):
    code, out, err = cli(capsys)
    assert code == 2
    assert out == ""
    assert err.startswith("usage: specc")


@pytest.mark.parametrize("argv", [
    ["frobnicate"],
    ["validate"],  # PATH is required
    ["validate", "--bogus", "specs"],
    ["--bogus"],
    ["validate", "--format", "xml", "specs"],
    ["schema", "extra-argument"],
    ["schema", "-o"],
], ids=lambda a: " ".join(a) or "nothing")
def test_usage_errors_exit_2(capsys, argv, in_repo):
    code, out, err = cli(capsys, *argv)
    assert code == 2
    assert out == ""
    assert "usage: specc" in err and "error:" in err


def test_version(capsys):
    code, out, _err = cli(capsys, "--version")
    assert code == 0
    assert out.strip() == f"specc {specc.__version__}"


@pytest.mark.parametrize("argv", [["--help"], ["validate", "--help"], ["schema", "-h"]], ids=" ".join)
def test_help_exits_0(capsys, argv):
    code, out, _ = cli(capsys, *argv)
    assert code == 0
    assert out.startswith("usage: specc")


# -- validate --format json ------------------------------------------------------


def test_json_for_an_invalid_file_matches_the_text(capsys, in_tmp):
    write(in_tmp / "many.yaml", MANY_ERRORS)
    code, text_out, _ = cli(capsys, "validate", "many.yaml")
    json_code, out, _ = cli(capsys, "validate", "--format", "json", "many.yaml")
    assert code == json_code == 1
    report = json.loads(out)
    assert isinstance(report, list) and len(report) == 1
    (entry,) = report
    assert entry["file"] == "many.yaml"
    assert entry["valid"] is False
    assert len(entry["errors"]) == len(MANY_DIAGNOSTICS)
    for error in entry["errors"]:
        assert set(error) == {"file", "line", "column", "code", "where", "message"}
        assert error["file"] == "many.yaml"
        assert isinstance(error["line"], int) and error["line"] >= 1
        assert isinstance(error["column"], int) and error["column"] >= 1
    rebuilt = [f"{e['file']}:{e['line']}:{e['column']}: error: " + (f"{e['where']}: " if e["where"] else "") + e["message"]
               for e in entry["errors"]]
    assert rebuilt == text_out.splitlines()
    first = entry["errors"][1]
    assert (first["line"], first["column"], first["where"]) == (7, 16, "model.layers[0] (Dense)")
    assert first["message"] == "units: Input should be greater than 0 (received -3)"


def test_json_for_valid_files(capsys, in_repo):
    code, out, _err = cli(capsys, "validate", "--format", "json", "specs")
    assert code == 0
    report = json.loads(out)
    assert len(report) == spec_count(SPECS)
    for entry in report:
        assert entry["valid"] is True
        assert entry["errors"] == []
        assert Path(entry["file"]).parent == Path("specs")


def test_json_for_mixed_files(capsys, in_tmp):
    write(in_tmp / "good.yaml", VALID)
    write(in_tmp / "bad.yaml", INVALID)
    code, out, _ = cli(capsys, "validate", "good.yaml", "bad.yaml", "--format", "json")
    assert code == 1
    report = json.loads(out)  # stdout is nothing but the JSON document
    assert [(e["file"], e["valid"], len(e["errors"])) for e in report] == [("good.yaml", True, 0), ("bad.yaml", False, 2)]


def test_json_keeps_non_ascii_readable(capsys, in_tmp):
    write(in_tmp / "ü.yaml", VALID.replace("name: ok", "name: ok\ndescription: 'naïve — ✓'\nbogus: é"))
    code, out, _ = cli(capsys, "validate", "--format", "json", "ü.yaml")
    assert code == 1
    (entry,) = json.loads(out)
    assert entry["file"] == "ü.yaml"
    assert "ü.yaml" in out


# -- schema ----------------------------------------------------------------------


def test_schema_to_stdout(capsys):
    code, out, _err = cli(capsys, "schema", "-o", "-")
    assert code == 0
    schema = json.loads(out)
    assert "$schema" in schema
    assert "properties" in schema


def test_schema_to_a_file(capsys, tmp_path):
    target = tmp_path / "out" / "new" / "x.json"  # parents are created
    code, out, err = cli(capsys, "schema", "-o", str(target))
    assert code == 0
    assert out == ""
    assert str(target) in err
    assert "$schema" in json.loads(target.read_text(encoding="utf-8"))
    assert sorted(os.listdir(target.parent)) == ["x.json"]  # no temporary file left behind
    code, stdout_schema, _ = cli(capsys, "schema", "-o", "-")
    assert target.read_text(encoding="utf-8") == stdout_schema


def test_schema_replaces_an_existing_file(capsys, tmp_path):
    target = write(tmp_path / "x.json", "old")
    code, _, _ = cli(capsys, "schema", "-o", str(target))
    assert code == 0
    assert "$schema" in json.loads(target.read_text(encoding="utf-8"))
    assert os.listdir(tmp_path) == ["x.json"]


def test_schema_default_path(capsys, in_tmp):
    code, _, _err = cli(capsys, "schema")
    assert code == 0
    written = in_tmp / "schemas" / "specc.schema.json"
    assert "$schema" in json.loads(written.read_text(encoding="utf-8"))
    assert os.listdir(written.parent) == ["specc.schema.json"]


def test_schema_write_failure_keeps_the_old_file_and_leaves_no_temporary(capsys, tmp_path, monkeypatch):
    target = write(tmp_path / "x.json", "old")

    def refuse(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse)
    code, _out, err = cli(capsys, "schema", "-o", str(target))
    assert code == 2
    assert "cannot write" in err and "No space left on device" in err
    assert target.read_text(encoding="utf-8") == "old"
    assert os.listdir(tmp_path) == ["x.json"]


def test_schema_into_a_regular_file_as_parent(capsys, tmp_path):
    parent = write(tmp_path / "file.txt", "I am a file")
    target = parent / "x.json"
    code, out, err = cli(capsys, "schema", "-o", str(target))
    assert code == 2
    assert out == ""
    assert err.startswith(f"specc: error: cannot write {target}")
    assert parent.read_text() == "I am a file"
    assert sorted(os.listdir(tmp_path)) == ["file.txt"]


def test_schema_onto_a_folder(capsys, tmp_path):
    folder = tmp_path / "dir.json"
    folder.mkdir()
    code, _out, err = cli(capsys, "schema", "-o", str(folder))
    assert code == 2
    assert f"cannot write {folder}" in err
    assert os.listdir(tmp_path) == ["dir.json"]
    assert os.listdir(folder) == []


# -- end to end, in a subprocess -------------------------------------------------


def run(argv: list[str], **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "PYTHONPATH": str(ROOT)}
    return subprocess.run(argv, cwd=ROOT, env=env, check=False, capture_output=True, text=True, timeout=120, **kwargs)


def test_python_m_specc_validate_specs():
    result = run([sys.executable, "-m", "specc", "validate", "specs/"])
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert f"{spec_count(SPECS)} specs valid" in result.stderr
    assert "Traceback" not in result.stderr


def test_python_m_specc_invalid_and_usage(tmp_path):
    bad = write(tmp_path / "bad.yaml", INVALID)
    result = run([sys.executable, "-m", "specc", "validate", str(bad)])
    assert result.returncode == 1
    assert result.stdout.splitlines() == [f"{bad}:{d}" for d in INVALID_DIAGNOSTICS]
    result = run([sys.executable, "-m", "specc"])
    assert result.returncode == 2
    assert result.stderr.startswith("usage: specc")
    result = run([sys.executable, "-m", "specc", "validate", str(tmp_path / "missing.yaml")])
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


def test_validate_does_not_import_tensorflow_or_keras():
    code = textwrap.dedent("""\
        import sys
        from specc.cli import main
        code = main(["validate", "specs", "tests/cases"])
        heavy = sorted(m for m in ("tensorflow", "keras", "jax", "torch") if m in sys.modules)
        print(code, ",".join(heavy) or "-")
        """)
    result = run([sys.executable, "-c", code])
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].split() == ["1", "-"]  # tests/cases/invalid makes it exit 1


def test_console_entry_point():
    exe = Path(sys.executable).with_name("specc")
    if not exe.exists():
        pytest.skip(f"no console script at {exe} (specc not pip-installed into this environment)")
    result = run([str(exe), "validate", "specs"])
    assert result.returncode == 0, result.stderr
    assert f"{spec_count(SPECS)} specs valid" in result.stderr
    result = run([str(exe), "--version"])
    assert result.returncode == 0
    assert result.stdout.strip() == f"specc {specc.__version__}"


# -- quiet by default, --set on validate, counts and states in the summaries ---------------

START_UP_LINES = ("absl::InitializeLog", "oneDNN", "cpu_feature_guard")  # TensorFlow's C++ start-up lines


def test_specc_prints_no_tensorflow_start_up_lines():
    env = {key: value for key, value in os.environ.items()
           if key not in ("SPECC_TF_LOGS", "TF_CPP_MIN_LOG_LEVEL", "TF_ENABLE_ONEDNN_OPTS")}
    quiet = subprocess.run([sys.executable, "-m", "specc", "check", "specs/mlp.yaml"], cwd=ROOT, capture_output=True,
                           text=True, timeout=120, check=False, env={**env, "PYTHONPATH": str(ROOT)})
    assert quiet.returncode == 0, quiet.stderr
    assert not [line for line in quiet.stderr.splitlines() if any(s in line for s in START_UP_LINES)], quiet.stderr
    assert quiet.stderr.splitlines()[-1] == "1 spec builds"
    loud = subprocess.run([sys.executable, "-m", "specc", "check", "specs/mlp.yaml"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, check=False, env={**env, "PYTHONPATH": str(ROOT), "SPECC_TF_LOGS": "1"})
    assert loud.returncode == 0, loud.stderr
    assert set(quiet.stderr.splitlines()) <= set(loud.stderr.splitlines())  # SPECC_TF_LOGS=1 hides nothing
    if sys.platform == "linux" and os.uname().machine == "x86_64":  # where TensorFlow's build has oneDNN on
        assert "oneDNN" in loud.stderr


def test_holding_back_start_up_lines_keeps_every_other_line(capfd):
    from specc.build import keras as keras_module

    with keras_module._without_start_up_lines():
        os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
                    b"I0000 00:00:1796177860.692415   13776 port.cc:153] oneDNN custom operations are on.\n"
                    b"W0000 00:00:1796177860.692415   13776 gpu.cc:12] a real warning\n"
                    b"a line of Python's\n")
    assert capfd.readouterr().err == "W0000 00:00:1796177860.692415   13776 gpu.cc:12] a real warning\na line of Python's\n"


@pytest.mark.slow
def test_train_into_a_pipe_prints_one_line_per_epoch(tmp_path):
    """Keras's progress bar redraws itself with \\b and \\r, which fill a log file; `verbose: auto` is 2 there."""
    import re

    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-m", "specc", "train", "specs/quickstart.yaml", "--set", "train.epochs=2",
                             "--out", str(tmp_path / "run")], cwd=ROOT, env=env, capture_output=True, timeout=300,
                            check=False)
    printed = (result.stdout + result.stderr).decode()  # bytes: text mode would turn \r into \n
    assert result.returncode == 0, printed
    assert "\x08" not in printed and "\r" not in printed
    lines = printed.splitlines()
    assert [line for line in lines if line.startswith("Epoch ")] == ["Epoch 1/2", "Epoch 2/2"]
    steps = [line for line in lines if re.match(r"\d+/\d+ - ", line)]  # `40/40 - 1s - 24ms/step - accuracy: ...`
    assert len(steps) == 2, printed  # one line per epoch


def test_validate_takes_set_for_every_file(capsys, in_repo):
    code, out, err = cli(capsys, "validate", "specs/mlp.yaml", "specs/quickstart.yaml", "--set", "train.epochs=0")
    assert code == 1
    assert out.splitlines() == ["--set train.epochs=0:1:14: error: train: epochs: Input should be greater than 0 (received 0)"] * 2
    assert err.strip() == "2 of 2 specs invalid (2 errors)"
    code, out, err = cli(capsys, "validate", "specs/mlp.yaml", "--set", "train.epochs=1", "--format", "json")
    assert code == 0 and json.loads(out)[0]["valid"]


def test_check_counts_the_specs_it_built(capsys, in_repo):
    code, out, err = cli(capsys, "check", "specs/mlp.yaml")
    assert (code, out, err.strip()) == (0, "", "1 spec builds")
    code, out, err = cli(capsys, "check", "tests/cases/build_errors/add_shapes.yaml", "specs/mlp.yaml")
    assert code == 1
    assert err.strip() == "1 of 2 specs does not build"


def test_codegen_check_says_missing_for_files_not_written(capsys, in_repo, tmp_path):
    out_dir = tmp_path / "generated"
    code, out, err = cli(capsys, "codegen", "specs/mlp.yaml", "specs/quickstart.yaml", "--out-dir", str(out_dir), "--check")
    assert code == 1
    assert out.splitlines() == [f"missing: {out_dir / 'mlp.py'}", f"missing: {out_dir / 'quickstart.py'}"]
    assert err.strip() == "2 generated files missing: run `specc codegen`"
    assert not out_dir.exists()
    assert cli(capsys, "codegen", "specs/mlp.yaml", "--out-dir", str(out_dir))[0] == 0
    (out_dir / "mlp.py").write_text("# edited by hand\n", encoding="utf-8")
    code, out, err = cli(capsys, "codegen", "specs/mlp.yaml", "specs/quickstart.yaml", "--out-dir", str(out_dir), "--check")
    assert code == 1
    assert out.splitlines() == [f"out of date: {out_dir / 'mlp.py'}", f"missing: {out_dir / 'quickstart.py'}"]
    assert err.strip() == "1 generated file out of date and 1 missing: run `specc codegen`"
