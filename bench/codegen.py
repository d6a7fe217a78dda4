"""Benchmark: `specc codegen` time per spec, and how it grows with the spec's size.

    python bench/codegen.py           # or: make bench
    python bench/codegen.py --quick

Measured in process, after start-up (imports, the catalog and Jinja's template
cache are warmed by a first render): loading + lowering the spec, then
rendering the script, for every spec in specs/ and for generated specs of
1,000 and 10,000 layers. Targets: under 50 ms per example spec, and linear
growth. Also: a cold `specc codegen` command line, which must not import
TensorFlow (the tests assert that; this shows what it costs).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from common import versions  # noqa: E402  bench/common.py: the scripts run from bench/
from run import big_spec  # noqa: E402  the same generated specs as the validation benchmark


def timed(function, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one repetition, 1,000 layers only")
    args = parser.parse_args(argv)
    repeats = 1 if args.quick else 5
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")

    import specc
    from specc.emit import render_script

    print(f"specc codegen benchmark: {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} CPUs")
    print(f"  {versions(('jinja2', 'pydantic', 'pyyaml'))}")
    specs = sorted((REPO / "specs").glob("*.yaml"))
    render_script(specc.load(specs[0]), str(specs[0]))  # start-up: imports, catalog, templates
    print("\nExample specs (load + lower + render), median of", repeats)
    worst = 0.0
    for path in specs:
        median = statistics.median(timed(lambda p=path: render_script(specc.load(p), str(p)), repeats))
        worst = max(worst, median)
        print(f"  {path.name:28} {median * 1000:8.1f} ms")
    print(f"  slowest: {worst * 1000:.1f} ms   target < 50 ms per spec: {'PASS' if worst < 0.05 else 'MISS'}")

    print("\nGenerated specs")
    sizes = [1000] if args.quick else [1000, 10000]
    with tempfile.TemporaryDirectory() as folder:
        per_layer = []
        for layers in sizes:
            path = Path(folder) / f"big_{layers}.yaml"
            path.write_text(big_spec(layers), encoding="utf-8")
            median = statistics.median(timed(lambda p=path: render_script(specc.load(p), str(p)), repeats))
            per_layer.append(median / layers)
            print(f"  {layers:>6,} layers {median * 1000:9.1f} ms   {median / layers * 1e6:6.1f} us/layer")
        if len(per_layer) > 1:
            print(f"  growth: {per_layer[-1] / per_layer[0]:.2f}x the time per layer at 10x the layers (1.0 = linear)")
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "specc", "codegen", str(specs[0])], cwd=REPO, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        print(f"\nCold command line, one spec: {(time.perf_counter() - started) * 1000:.0f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
