"""Peak memory of `specc train` on a growing image folder: loaded whole, and streamed (`stream: true`).

    .venv/bin/python bench/memory.py              # 2,000 -> 20,000 -> 100,000 files (a few minutes)
    .venv/bin/python bench/memory.py --quick      # 200 -> 1,000 files: a smoke test

A folder of small PNGs (32x32 RGB, 10 class folders) is generated in a temporary folder
and grown from one size to the next. At each size, `python -m specc train` trains a small
CNN for one epoch on it, once with the folder loaded whole (`images:` as it is) and once
streamed (`stream: true`), each in a process of its own, measured by the peak resident set
size the kernel reports for it (`getrusage(RUSAGE_CHILDREN)` in a fresh parent per run).
The two runs alternate. Reported: the peak of each, and the ratio. No timings are asserted.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import versions  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CLASSES = 10
SPEC = textwrap.dedent("""\
    specc: 1
    name: memory
    seed: 1
    model:
      inputs: {image: {shape: [32, 32, 3]}}
      layers:
        - Conv2D: {filters: 8, kernel_size: 3, strides: 2, activation: relu}
        - GlobalAveragePooling2D
        - Dense: {units: 10, activation: softmax}
    compile: {optimizer: adam, loss: sparse_categorical_crossentropy}
    data:
      source: {images: {path: photos, image_size: [32, 32]STREAM}}
      features: [{rescale: 0.00392156862745098}]
    train: {epochs: 1, batch_size: 256, verbose: 0}
    """)
MEASURE = textwrap.dedent("""\
    import resource, subprocess, sys
    done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
    if done.returncode:
        sys.exit(done.stderr[-2000:])
    print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)  # KiB on Linux
""")


def grow(folder: Path, count: int) -> None:
    """Add PNG files until the folder holds `count`, spread over the class folders."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(count)
    have = sum(1 for _ in folder.rglob("*.png"))
    for i in range(have, count):
        target = folder / f"class{i % CLASSES}"
        target.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(target / f"{i}.png")


def peak_mib(workdir: Path, spec: str, out: str) -> float:
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "2", "TF_ENABLE_ONEDNN_OPTS": "0",
           "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-c", MEASURE, sys.executable, "-m", "specc", "train", spec, "--out", out]
    done = subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"specc train failed:\n{done.stderr[-3000:]}")
    return int(done.stdout.strip().splitlines()[-1]) / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200 and 1,000 files: a smoke test")
    args = parser.parse_args(argv)
    sizes = (200, 1000) if args.quick else (2000, 20000, 100000)
    print(f"# {versions()}; {os.cpu_count()} CPUs")
    print(f"| files | image data (float32) | loaded whole: peak RSS | streamed: peak RSS | streamed / whole |")
    print("|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as temporary:
        workdir = Path(temporary)
        (workdir / "whole.yaml").write_text(SPEC.replace("STREAM", ""))
        (workdir / "stream.yaml").write_text(SPEC.replace("STREAM", ", stream: true"))
        for size in sizes:
            grow(workdir / "photos", size)
            whole = peak_mib(workdir, "whole.yaml", f"whole-{size}")
            streamed = peak_mib(workdir, "stream.yaml", f"stream-{size}")
            data = size * 32 * 32 * 3 * 4 / 2**20
            print(f"| {size:,} | {data:,.0f} MiB | {whole:,.0f} MiB | {streamed:,.0f} MiB | {streamed / whole:.2f} |",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
