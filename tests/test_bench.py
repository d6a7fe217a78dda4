"""The benchmarks in bench/ still run: each in its smoke or quick mode, from another folder, as a stranger runs them.

They report, never assert, so what is checked here is that every measurement ran and printed its verdict;
no figure is compared with anything (bench/README.md holds the figures).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from test_packaging import clean_env, explain, run  # a stranger's environment, a failure's output

ROOT = Path(__file__).resolve().parent.parent


def run_bench(script: str, *args: str, cwd: Path, timeout: float = 300) -> str:
    done = run([sys.executable, ROOT / "bench" / script, *args], cwd=cwd, env=clean_env(), timeout=timeout)
    assert done.returncode == 0, explain(done)
    return done.stdout


@pytest.mark.slow
def test_the_table_of_ratios_runs_every_measurement(tmp_path):
    """`make bench`'s one table, in its smoke mode: every row measured, with a ratio, a spread and its verdict."""
    out = run_bench("ratios.py", "--smoke", cwd=tmp_path)
    rows = {match[0].strip(): match[1:] for match in re.findall(
        r"^  (\S.*?) +[\d,]+(?: ms|/s) +[\d,]+(?: ms|/s) +(\d+\.\d{3}) +(\d+\.\d{3})-(\d+\.\d{3})(?: +(\S.*?) (PASS|MISS))?$",
        out, re.M)}
    expected = ["cold start: validate specs/", "cold start: codegen specs/", "build: ResNet-50-sized"]
    for name in ("mlp", "cifar10_cnn", "transformer_classifier"):
        expected += [f"train {name}: / NumPy fit", f"train {name}: / hand-written tf.data",
                     f"train {name}: generated script / specc train"]
    for label in expected:
        found = [row for key, row in rows.items() if key.startswith(label)]
        assert len(found) == 1, f"no row '{label}' in\n{out}"
        ratio, low, high, target, verdict = found[0]
        assert float(low) <= float(ratio) <= float(high), found[0]
        assert label.startswith("cold start: codegen") or verdict in ("PASS", "MISS"), (label, found[0])
    assert re.search(r"^  .*\d+ CPUs", out, re.M), out  # the machine, named


@pytest.mark.slow
def test_the_validation_benchmark_quick_mode_runs(tmp_path):
    out = run_bench("run.py", "--quick", cwd=tmp_path)
    assert re.search(r"ratio validate/import keras: \d+\.\d+ .*target <= 0\.05: (PASS|MISS)", out), out
    assert re.search(r"^\s+1,000 ", out, re.M), out


@pytest.mark.slow
def test_the_codegen_benchmark_quick_mode_runs(tmp_path):
    out = run_bench("codegen.py", "--quick", cwd=tmp_path)
    assert re.search(r"slowest: \d+\.\d ms\s+target < 50 ms per spec: (PASS|MISS)", out), out
