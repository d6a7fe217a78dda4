"""Packaging: the built wheel carries `schemas/` and `templates/`, and a plain
(non-editable) `pip install` into a fresh virtual environment works from any folder.

The distribution is `specc-keras` (`specc` on the package index is an unrelated project);
its base install is light (validation, codegen, the JSON Schema), Keras and TensorFlow
are the `ml` extra, and the commands that need them say so when they are missing.

These tests never rely on how the running environment installed specc (editable,
not at all, ...): they build from the repository and check what got built.
"""

from __future__ import annotations

import configparser
import importlib.util
import json
import os
import re
import shutil
import site
import subprocess
import sys
import sysconfig
import textwrap
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HAVE_HATCHLING = importlib.util.find_spec("hatchling") is not None
SCHEMA_FILES = ("keras_catalog.json", "keras_rules.yaml", "specc.schema.json")
DISTRIBUTION = "specc-keras"  # the name on the package index; the module and the command are `specc`
WHEEL_GLOB = "specc_keras-*.whl"  # wheel file names spell the name with `_`
GENERATED_SCHEMA = ROOT / "schemas" / "specc.schema.json"


def run(argv: list, *, cwd: Path, env: dict | None = None, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in argv], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, timeout=timeout)


def explain(done: subprocess.CompletedProcess) -> str:
    return f"exit {done.returncode}\n--- stdout\n{done.stdout[-3000:]}\n--- stderr\n{done.stderr[-3000:]}"


def clean_env(**extra: str) -> dict:
    """The environment minus anything that could put the repository (or a user site) on sys.path."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")}
    env.update(PYTHONNOUSERSITE="1", PIP_DISABLE_PIP_VERSION_CHECK="1", KERAS_BACKEND="tensorflow", **extra)
    return env


def build_wheel(source: Path, out: Path) -> subprocess.CompletedProcess:
    """`pip wheel` of a source tree: without build isolation when hatchling is importable here, else isolated."""
    argv = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", out, source]
    if HAVE_HATCHLING:
        argv.insert(4, "--no-build-isolation")
    return run(argv, cwd=out.parent, env=clean_env())


def source_files(folder: Path) -> set[str]:
    """Files under `folder`, relative to it, as a wheel would name them (bytecode caches left out)."""
    return {
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    }


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("wheel") / "dist"
    out.mkdir()
    done = build_wheel(ROOT, out)
    assert done.returncode == 0, f"building the wheel failed: {explain(done)}"
    wheels = sorted(out.glob(WHEEL_GLOB))
    assert len(wheels) == 1, f"expected one specc wheel in {out}, found {[w.name for w in wheels]}"
    with zipfile.ZipFile(wheels[0]) as archive:
        yield archive


# -- A: what the wheel holds ---------------------------------------------------


def test_wheel_carries_schemas(wheel):
    names = set(wheel.namelist())
    for name in SCHEMA_FILES[:2]:
        assert f"specc/_data/schemas/{name}" in names
    # The repository's data must not leak into the wheel's top level either.
    assert not [n for n in names if n.startswith(("schemas/", "templates/"))]


def test_wheel_carries_generated_json_schema(wheel):
    if not GENERATED_SCHEMA.is_file():
        pytest.skip("schemas/specc.schema.json is not in the source tree yet (`make generated` writes it)")
    assert "specc/_data/schemas/specc.schema.json" in wheel.namelist()


def test_wheel_carries_every_schema_and_template_file(wheel):
    names = set(wheel.namelist())
    for folder in ("schemas", "templates"):
        expected = {f"specc/_data/{folder}/{f}" for f in source_files(ROOT / folder)} if (ROOT / folder).is_dir() else set()
        missing = sorted(expected - names)
        assert not missing, f"files of {folder}/ missing from the wheel: {missing}"


def test_wheel_carries_every_module(wheel):
    names = set(wheel.namelist())
    modules = {f"specc/{f}" for f in source_files(ROOT / "specc") if f.endswith(".py")}
    assert modules, "no specc/*.py found in the source tree"
    missing = sorted(modules - names)
    assert not missing, f"modules missing from the wheel: {missing}"
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")], "bytecode in the wheel"


def test_wheel_declares_the_console_script(wheel):
    [entry_points] = [n for n in wheel.namelist() if re.fullmatch(r"specc_keras-[^/]+\.dist-info/entry_points\.txt", n)]
    parser = configparser.ConfigParser()
    parser.read_string(wheel.read(entry_points).decode("utf-8"))
    assert parser.get("console_scripts", "specc").strip() == "specc.cli:main"


def wheel_metadata(wheel: zipfile.ZipFile):
    """The wheel's METADATA (an email.message.Message: `Name`, `Requires-Dist`, `Provides-Extra`, ...)."""
    import email

    [metadata] = [n for n in wheel.namelist() if re.fullmatch(r"specc_keras-[^/]+\.dist-info/METADATA", n)]
    return email.message_from_bytes(wheel.read(metadata))


def requirements(metadata, extra: str) -> set[str]:
    """The names of what installing with `extra` brings (`""`: the base install), as the resolver reads them."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    found = set()
    for line in metadata.get_all("Requires-Dist") or []:
        req = Requirement(line)
        if req.marker is None or req.marker.evaluate({"extra": extra}):
            found.add(canonicalize_name(req.name))
            if canonicalize_name(req.name) == DISTRIBUTION and req.extras:  # a self-reference: specc-keras[ml]
                found |= set().union(*(requirements(metadata, e) for e in sorted(req.extras)))
    return found


ML_STACK = {"keras", "tensorflow", "tensorflow-cpu", "tensorboard", "matplotlib", "numpy"}


def test_wheel_is_named_specc_keras(wheel):
    assert wheel_metadata(wheel)["Name"] == DISTRIBUTION


def test_base_install_is_light_and_the_ml_extra_has_keras_and_tensorflow(wheel):
    metadata = wheel_metadata(wheel)
    base = requirements(metadata, "")
    assert {"pydantic", "jinja2", "pyyaml"} <= base, base
    assert not base & ML_STACK, f"the base install pulls the ML stack: {sorted(base & ML_STACK)}"
    assert "ml" in (metadata.get_all("Provides-Extra") or [])
    ml = requirements(metadata, "ml")
    assert {"keras", "tensorflow-cpu", "numpy"} <= ml, ml
    assert "tensorflow" not in ml, "plain tensorflow is the 572 MB CUDA build"
    test = requirements(metadata, "test")
    assert {"keras", "tensorflow-cpu", "pytest"} <= test, f"`.[test]` (make test) must bring the ml extra: {test}"


# -- the light install: what works without the ML stack, and what asks for it ------

# A light install, simulated: importing any of these fails as on a machine without them.
WITHOUT_ML = ("import sys\n"
              "for name in ('numpy', 'keras', 'tensorflow', 'tensorboard', 'matplotlib'):\n"
              "    sys.modules[name] = None\n"
              "from specc.cli import main\n"
              "sys.exit(main(sys.argv[1:]))\n")


def specc_without_ml(*args, cwd: Path) -> subprocess.CompletedProcess:
    env = clean_env(PYTHONPATH=str(ROOT))
    return run([sys.executable, "-c", WITHOUT_ML, *args], cwd=cwd, env=env)


def test_validate_codegen_schema_and_resolve_need_no_numpy_keras_or_tensorflow(tmp_path):
    specs = ROOT / "specs"
    done = specc_without_ml("validate", specs, cwd=tmp_path)
    assert done.returncode == 0 and "Traceback" not in done.stderr, explain(done)
    done = specc_without_ml("codegen", specs, "--out-dir", tmp_path / "generated", cwd=tmp_path)
    assert done.returncode == 0 and "Traceback" not in done.stderr, explain(done)
    assert sorted(p.name for p in (tmp_path / "generated").glob("*.py")), "codegen wrote no script"
    done = specc_without_ml("schema", "-o", "-", cwd=tmp_path)
    assert done.returncode == 0 and json.loads(done.stdout), explain(done)
    done = specc_without_ml("resolve", specs / "quickstart.yaml", cwd=tmp_path)
    assert done.returncode == 0 and "Traceback" not in done.stderr, explain(done)


@pytest.mark.parametrize("command", ["build", "check", "train"])
def test_commands_that_need_keras_ask_for_the_ml_extra(tmp_path, command):
    argv = [command, ROOT / "specs" / "quickstart.yaml"]
    argv += {"build": ["-o", tmp_path / "m.keras"], "train": ["--out", tmp_path / "run"]}.get(command, [])
    done = specc_without_ml(*argv, cwd=tmp_path)
    assert done.returncode == 2, explain(done)
    assert "Traceback" not in done.stderr, explain(done)
    assert done.stderr.strip().splitlines()[-1] == (
        f"specc: error: specc {command} needs Keras and TensorFlow: pip install 'specc-keras[ml]'"), explain(done)


def git_files(root: Path) -> list[str] | None:
    """The files a fresh clone would have (tracked) plus untracked, not-ignored ones; None outside a git checkout."""
    if shutil.which("git") is None:
        return None
    done = run(["git", "-C", root, "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=root, timeout=60)
    if done.returncode != 0:
        return None
    return [f for f in done.stdout.split("\0") if f and (root / f).is_file()]


def test_wheel_builds_from_a_fresh_checkout(tmp_path):
    """`pip install .` in a fresh clone: git keeps no empty folders, and hatchling refuses a
    `force-include` source that does not exist, so `templates/` must hold a tracked file."""
    files = git_files(ROOT)
    if files is None:
        pytest.skip("not a git checkout: the source tree is already what gets built")
    checkout = tmp_path / "checkout"
    for name in files:
        target = checkout / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target)
    out = tmp_path / "dist"
    out.mkdir()
    done = build_wheel(checkout, out)
    missing = [d for d in ("schemas", "templates") if not (checkout / d).is_dir()]
    assert done.returncode == 0, (
        f"a fresh checkout does not build (folders git does not carry: {missing or 'none'}; "
        f"an empty folder needs a tracked file such as templates/README.md): {explain(done)}"
    )
    [built] = out.glob(WHEEL_GLOB)
    with zipfile.ZipFile(built) as archive:
        assert "specc/_data/schemas/keras_catalog.json" in archive.namelist()


# -- B: a plain `pip install` into a fresh virtual environment -----------------


def dependency_paths() -> list[str]:
    """Where the running interpreter finds specc's dependencies (never the repository itself)."""
    paths = [sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"], *site.getsitepackages()]
    found: list[str] = []
    for path in paths:
        resolved = Path(path).resolve()
        if resolved.is_dir() and resolved != ROOT and str(resolved) not in found:
            found.append(str(resolved))
    return found


def inside(path: str | Path, folder: Path) -> bool:
    return Path(path).resolve().is_relative_to(folder.resolve())


@pytest.mark.slow
def test_plain_pip_install_into_a_fresh_venv(tmp_path):
    venv = tmp_path / "venv"
    done = run([sys.executable, "-m", "venv", venv], cwd=tmp_path)
    assert done.returncode == 0, explain(done)
    python, specc_cmd = venv / "bin" / "python", venv / "bin" / "specc"
    env = clean_env()
    purelib = Path(run([python, "-I", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                       cwd=tmp_path, env=env).stdout.strip())
    assert purelib.is_dir() and inside(purelib, venv)

    # Keras and TensorFlow again from PyPI would cost a minute and 600 MB: let the fresh
    # venv see the dependencies installed here, after its own site-packages. Folders named
    # in a .pth file have their own .pth files ignored, so an editable specc installed
    # here (a .pth or an __editable__ finder) cannot leak in.
    (purelib / "zz_specc_test_dependencies.pth").write_text("\n".join(dependency_paths()) + "\n", encoding="utf-8")

    argv = [python, "-m", "pip", "install", "--no-deps", "--quiet", ROOT]
    if HAVE_HATCHLING:  # visible to the fresh venv through the .pth; else pip fetches it into an isolated build
        argv.insert(-1, "--no-build-isolation")
    done = run(argv, cwd=tmp_path, env=env)
    assert done.returncode == 0, f"pip install {ROOT} failed: {explain(done)}"

    work = tmp_path / "work"  # outside the repository, with a copy of its specs
    shutil.copytree(ROOT / "specs", work / "specs")

    # The installed copy is the one used, not the repository, and it is no editable install.
    probe = textwrap.dedent("""
        import json, importlib.metadata as md, specc, specc.resources as r
        dist = md.distribution("specc-keras")
        direct = json.loads(dist.read_text("direct_url.json") or "{}")
        missing = []
        try:
            from packaging.requirements import Requirement
        except ImportError:
            Requirement = None
        for line in (dist.requires or []) if Requirement else []:
            req = Requirement(line)
            if req.marker is not None and not req.marker.evaluate({"extra": ""}):
                continue
            try:
                version = md.version(req.name)
            except md.PackageNotFoundError:
                missing.append(f"{req} (not installed)")
                continue
            if not req.specifier.contains(version, prereleases=True):
                missing.append(f"{req} (found {version})")
        print(json.dumps({"file": specc.__file__, "schemas": str(r.data_dir("schemas")),
                          "templates": str(r.data_dir("templates")) if (r._PACKAGE / "_data" / "templates").is_dir() else None,
                          "dist": str(dist.locate_file("")), "editable": direct.get("dir_info", {}).get("editable", False),
                          "unsatisfied": missing}))
    """)
    done = run([python, "-I", "-c", probe], cwd=work, env=env)
    assert done.returncode == 0, explain(done)
    found = json.loads(done.stdout)
    assert inside(found["file"], purelib), f"specc imported from {found['file']}, not the fresh venv"
    assert inside(found["schemas"], purelib / "specc" / "_data"), found["schemas"]
    if found["templates"] is not None:
        assert inside(found["templates"], purelib / "specc" / "_data"), found["templates"]
    assert inside(found["dist"], purelib) and not found["editable"], found
    assert not found["unsatisfied"], f"declared dependencies not satisfied by what is installed: {found['unsatisfied']}"

    done = run([specc_cmd, "validate", "specs/"], cwd=work, env=env)
    assert done.returncode == 0, explain(done)
    assert re.search(r"\d+ specs? valid", done.stderr), explain(done)

    done = run([specc_cmd, "schema", "-o", "-"], cwd=work, env=env)
    assert done.returncode == 0, explain(done)
    schema = json.loads(done.stdout)
    assert isinstance(schema, dict) and schema, "specc schema -o - printed no JSON Schema"

    bad = work / "bad.yaml"
    bad.write_text(textwrap.dedent("""\
        specc: 1
        name: bad
        model:
          layers:
            - Dense: {units: 32, activation: relu, input_shape: [784]}
            - Dense: {units: 10, activaton: softmax}
    """), encoding="utf-8")
    done = run([specc_cmd, "validate", "bad.yaml"], cwd=work, env=env)
    assert done.returncode == 1, explain(done)
    column = bad.read_text().splitlines()[5].index("activaton") + 1
    assert re.search(rf"^bad\.yaml:6:{column}: error: .*'activaton'", done.stdout, re.M), explain(done)
