"""`specc build`, `specc resolve` and `specc check` from the command line."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import specc
from specc.cli import main

ROOT = Path(__file__).resolve().parent.parent
MLP = ROOT / "specs" / "mlp.yaml"


def test_build_saves_a_model_that_loads_back(tmp_path, capsys):
    import keras

    out = tmp_path / "models" / "mlp.keras"
    assert main(["build", str(MLP), "-o", str(out), "--summary"]) == 0
    printed = capsys.readouterr()
    assert "Total params: 27,882" in printed.out  # the summary: 784*32+32 + 32*64+64 + 64*10+10
    model = keras.saving.load_model(out)
    assert [layer.name for layer in model.layers] == ["dense", "dense_1", "dense_2"]
    assert model.optimizer.__class__.__name__ == "Adam"
    assert sorted(p.name for p in out.parent.iterdir()) == ["mlp.keras"]  # no temporary file left
    assert oct(out.stat().st_mode & 0o777) != oct(0o600)  # not the private mode of a temporary file


def test_build_defaults_to_the_spec_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["build", str(MLP)]) == 0
    assert (tmp_path / "mlp.keras").is_file()


def test_build_refuses_other_suffixes(tmp_path, capsys):
    assert main(["build", str(MLP), "-o", str(tmp_path / "model.h5")]) == 2
    assert "must end in .keras" in capsys.readouterr().err


def test_build_with_overrides(tmp_path):
    import keras

    out = tmp_path / "wide.keras"
    assert main(["build", str(MLP), "-o", str(out), "--set", "model.layers[0].Dense.units=48"]) == 0
    assert keras.saving.load_model(out).layers[0].units == 48


def test_build_reports_a_bad_override_on_the_command_line(tmp_path, capsys):
    assert main(["build", str(MLP), "-o", str(tmp_path / "x.keras"), "--set", "model.layers[0].Dense.units=0"]) == 1
    assert capsys.readouterr().out.strip() == (
        "--set model.layers[0].Dense.units=0:1:29: error: model.layers[0] (Dense): units: "
        "Input should be greater than 0 (received 0)")
    assert not (tmp_path / "x.keras").exists()


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed (make test installs it)")
def test_build_plots_the_architecture(tmp_path):
    plot = tmp_path / "resnet.png"
    assert main(["build", str(ROOT / "specs" / "cifar_resnet.yaml"), "-o", str(tmp_path / "m.keras"), "--plot", str(plot)]) == 0
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_without_graphviz_says_what_is_missing(tmp_path):
    # A PATH without `dot`: the command must name what to install, before building anything.
    env = {**os.environ, "PATH": str(Path(sys.executable).parent), "KERAS_BACKEND": "tensorflow"}
    result = subprocess.run([sys.executable, "-m", "specc", "build", str(MLP), "-o", str(tmp_path / "m.keras"),
                             "--plot", str(tmp_path / "m.png")], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert "--plot needs Graphviz's dot program (Debian/Ubuntu: apt-get install graphviz)" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "m.keras").exists()


def test_resolve_prints_a_spec_that_loads_to_the_same_model(tmp_path, capsys):
    assert main(["resolve", str(ROOT / "specs" / "mlp_regularized.yaml"), "--set", "train.epochs=2"]) == 0
    text = capsys.readouterr().out
    resolved = tmp_path / "resolved.yaml"
    resolved.write_text(text)
    again = specc.load(resolved)
    original = specc.load(ROOT / "specs" / "mlp_regularized.yaml", ["train.epochs=2"])
    assert again.graph == original.graph
    assert again.sha256 == original.sha256
    assert f"# sha256: {original.sha256}" in text
    assert "extends" not in again.canonical and "${params" not in text  # merged and interpolated
    assert again.fit.epochs == 2
    assert again.fit.batch_size == 128  # from the base spec
    assert "steps_per_execution: 1" in text  # defaults filled


def test_check_builds_every_example(capsys):
    assert main(["check", str(ROOT / "specs")]) == 0
    assert f"{len(list((ROOT / 'specs').glob('*.yaml')))} specs build" in capsys.readouterr().err
