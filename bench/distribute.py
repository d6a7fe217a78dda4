"""Distributed training throughput: one device, mirrored over 2 logical CPUs, 2 workers; specc against hand-written tf.distribute.

    python bench/distribute.py            # the full run (5 to 6 minutes on 2 CPUs; see bench/README.md)
    python bench/distribute.py --quick    # 1 round, 3 epochs, a third of the data: a smoke test (about 1 minute)

One workload, written to a temporary folder: an MLP (256 -> 1024 -> 1024 -> 10,
1.3 M parameters) on 12,288 synthetic samples (`d.npz`, fixed seed), global
batch 256, Adam, sparse categorical crossentropy. Three configurations:

    one device      no `train.distribution` (Keras's default strategy)
    mirrored        `{strategy: mirrored, devices: [/cpu:0, /cpu:1]}`: the CPU split into 2 logical devices
    multi-worker    `multi_worker_mirrored`, 2 worker processes on loopback, each with its TF_CONFIG

and for each, two contenders, each in fresh processes (logical devices and
MultiWorkerMirroredStrategy must be set up before TensorFlow starts):

    (a) specc   `specc.run.train.train(spec, overrides, out)`, the function `specc train` runs, in a process of
                its own (one per worker, with TF_CONFIG, as `specc train --workers 2` starts them);
    (b) hand    the same strategy hand-written in plain Keras/TF as the tf.distribute guide writes it:
                strategy first, model built and compiled in `strategy.scope()`, the global batch, the
                tf.data dataset auto-sharded by DATA and distributed with
                `strategy.experimental_distribute_dataset`, then `model.fit`. For multi-worker it applies
                specc's keras-team/keras#20585 workaround (imported from `specc.distribute`:
                Keras 3's fit crashes under MultiWorkerMirroredStrategy over several workers without it).
                The input pipeline is the one specc's `to_dataset` builds (shuffled sample indices,
                batched, each batch gathered in one op, prefetched), written out in plain tf.data, so that
                only the wiring differs (bench/runtime.py compares pipelines).

Timing: epoch callbacks (time.perf_counter in on_epoch_begin / on_epoch_end);
the first epoch (tracing) is never counted. For specc the callbacks are
injected by wrapping `specc.run.train.make_callbacks` in the benchmark's own
subprocess (a benchmark-only hook: specc has no such option), one timer
first in the list and one last, so two figures come out:
    whole epoch   first timer's begin to last timer's end: everything `specc train` does in an epoch,
                  including its per-epoch bookkeeping (history.json, BackupAndRestore's weights);
    steps only    first timer's begin to first timer's end, before the other callbacks' on_epoch_end.
The hand-written run gets the same two timers (with nothing between them).
Throughput = samples per epoch / epoch seconds (global: all workers together);
each figure is the median (and the best) over all timed epochs of all rounds.
specc and hand take turns (a, b, a, b, ...) within a configuration, 3 rounds.
Target: specc within 3 % of hand-written (ratio of whole-epoch medians >= 0.97).
The ratio of the best epochs is printed too: on 2 CPUs epoch times are
bimodal (an epoch runs either at full speed or far slower, in plain Keras
too), and the medians then depend on how many epochs fell in the slow mode.
The epoch-to-epoch spread is printed, and a note when it exceeds the target.

Results are reported, never asserted: the exit status is 0 unless something crashed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import versions  # bench/common.py: the scripts run from bench/

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # the source tree's specc, whatever is (or is not) installed
    sys.path.insert(0, str(REPO))

TARGET = 0.97  # specc / hand-written, whole epoch, at least (within 3 %)
SEED = 42
FEATURES, HIDDEN, CLASSES, BATCH = 256, 1024, 10, 256

# configuration -> (label, the --set value for train.distribution (None: none), worker processes)
CONFIGS = {
    "one_device": ("one device (no distribution)", None, 1),
    "mirrored": ("mirrored, 2 logical CPUs", "{strategy: mirrored, devices: [/cpu:0, /cpu:1]}", 1),
    "multi_worker": ("multi_worker_mirrored, 2 workers", "multi_worker_mirrored", 2),
}


# -- the workload ------------------------------------------------------------------


def write_workload(folder: Path, samples: int) -> Path:
    """d.npz (x: samples x 256 float32, y: class ids from a fixed random linear map) and the spec that trains on it."""
    import numpy as np

    rng = np.random.default_rng(SEED)
    x = rng.standard_normal((samples, FEATURES), dtype=np.float32)
    y = (x @ rng.standard_normal((FEATURES, CLASSES)).astype(np.float32)).argmax(axis=1).astype(np.int64)
    np.savez(folder / "d.npz", x=x, y=y)
    spec = folder / "bench_distribute.yaml"
    spec.write_text(f"""\
specc: 1
name: bench_distribute
description: bench/distribute.py's workload, an MLP on synthetic data.
seed: {SEED}
model:
  layers:
    - Dense: {{units: {HIDDEN}, activation: relu, input_shape: [{FEATURES}]}}
    - Dense: {{units: {HIDDEN}, activation: relu}}
    - Dense: {{units: {CLASSES}, activation: softmax}}
compile:
  optimizer: adam
  loss: sparse_categorical_crossentropy
  metrics: [accuracy]
data:
  source: {{npz: {{path: d.npz}}}}
train:
  epochs: 2
  batch_size: {BATCH}
  verbose: 0
""", encoding="utf-8")
    return spec


# -- in a benchmark subprocess ------------------------------------------------------------


class Timers:
    """Two epoch callbacks: `first` goes first in fit's callback list, `last` goes last."""

    def __init__(self, keras):
        outer = self
        self.begin = 0.0
        self.steps: list[float] = []  # first's begin to first's end
        self.whole: list[float] = []  # first's begin to last's end

        class First(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                outer.begin = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                outer.steps.append(time.perf_counter() - outer.begin)

        class Last(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                outer.whole.append(time.perf_counter() - outer.begin)

        self.first, self.last = First(), Last()

    def result(self) -> dict:
        return {"steps": self.steps, "whole": self.whole}


def child_specc(config: str, spec_path: Path, epochs: int, out: Path) -> dict:
    """specc's path: specc.run.train.train, as `specc train SPEC --set ... --out DIR` runs it in each worker."""
    import importlib

    specc_train = importlib.import_module("specc.run.train")

    made: list[Timers] = []
    wrapped = specc_train.make_callbacks

    def callbacks_with_timers(keras, *args, **kwargs):  # benchmark-only hook: specc has no timing option
        timers = Timers(keras)
        made.append(timers)
        return [timers.first, *wrapped(keras, *args, **kwargs), timers.last]

    specc_train.make_callbacks = callbacks_with_timers
    overrides = [f"train.epochs={epochs}"]
    if CONFIGS[config][1] is not None:
        overrides.append(f"train.distribution={CONFIGS[config][1]}")
    specc_train.train(spec_path, overrides=overrides, out=out)
    (timers,) = made
    return timers.result()


def child_hand(config: str, spec_path: Path, epochs: int) -> dict:
    """The same strategy hand-written in Keras/TF, as the tf.distribute guide writes it."""
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras
    import numpy as np
    import tensorflow as tf

    # The strategy first: logical devices and the multi-worker collectives must exist before TensorFlow starts.
    if config == "mirrored":
        (cpu,) = tf.config.list_physical_devices("CPU")
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    elif config == "multi_worker":
        strategy = tf.distribute.MultiWorkerMirroredStrategy()  # reads TF_CONFIG
    else:
        strategy = None

    with np.load(spec_path.parent / "d.npz") as archive:
        x, y = archive["x"], archive["y"]
    samples = len(x)
    data = (tf.convert_to_tensor(x), tf.convert_to_tensor(y))
    dataset = (tf.data.Dataset.range(samples)
               .shuffle(samples, seed=SEED, reshuffle_each_iteration=True)
               .batch(BATCH)  # the global batch
               .map(lambda i: (tf.gather(data[0], i), tf.gather(data[1], i)), num_parallel_calls=tf.data.AUTOTUNE,
                    deterministic=True)
               .prefetch(tf.data.AUTOTUNE))

    with strategy.scope() if strategy is not None else contextlib.nullcontext():
        keras.utils.set_random_seed(SEED)
        model = keras.Sequential([
            keras.Input(shape=(FEATURES,)),
            keras.layers.Dense(HIDDEN, activation="relu"),
            keras.layers.Dense(HIDDEN, activation="relu"),
            keras.layers.Dense(CLASSES, activation="softmax"),
        ])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    if strategy is not None:
        if config == "multi_worker":
            from specc.run.distribute import repair_multi_worker_fit  # keras-team/keras#20585; see the docstring

            repair_multi_worker_fit(model, strategy)
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
        dataset = strategy.experimental_distribute_dataset(dataset.with_options(options))
    timers = Timers(keras)
    model.fit(dataset, epochs=epochs, verbose=0, callbacks=[timers.first, timers.last])
    return timers.result()


def child(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("contender", choices=["specc", "hand"])
    parser.add_argument("config", choices=list(CONFIGS))
    parser.add_argument("spec", type=Path)
    parser.add_argument("epochs", type=int)
    parser.add_argument("out", type=Path)
    parser.add_argument("result", type=Path)
    args = parser.parse_args(argv)
    if args.contender == "specc":
        result = child_specc(args.config, args.spec, args.epochs, args.out)
    else:
        result = child_hand(args.config, args.spec, args.epochs)
    args.result.write_text(json.dumps(result), encoding="utf-8")
    return 0


# -- in the benchmark's own process ----------------------------------------------------


def run_contender(contender: str, config: str, spec: Path, epochs: int, folder: Path, tag: str) -> dict:
    """One training run in fresh processes (one per worker); worker 0's epoch times."""
    workers = CONFIGS[config][2]
    env = {key: value for key, value in os.environ.items() if key not in ("TF_CONFIG", "PYTHONPATH")}
    env.update(KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="2", PYTHONWARNINGS="ignore")
    from specc.run.workers import free_ports, tf_config  # what `specc train --workers` gives its workers

    addresses = [f"127.0.0.1:{port}" for port in free_ports(workers)] if workers > 1 else []
    processes, logs, results = [], [], []
    for index in range(workers):
        result = folder / f"{tag}-{index}.json"
        log = folder / f"{tag}-{index}.log"
        worker_env = dict(env)
        if addresses:  # TF_CONFIG as a cluster manager gives it (worker 0 is the chief)
            worker_env["TF_CONFIG"] = tf_config(addresses, index)
        argv = [sys.executable, str(Path(__file__).resolve()), "--child", contender, config, str(spec), str(epochs),
                str(folder / f"{tag}-run"), str(result)]
        with open(log, "wb") as handle:
            processes.append(subprocess.Popen(argv, cwd=REPO, env=worker_env, stdout=handle, stderr=subprocess.STDOUT))
        logs.append(log)
        results.append(result)
    failed = None
    deadline = time.monotonic() + 900
    while any(p.poll() is None for p in processes) and failed is None:
        failed = next((i for i, p in enumerate(processes) if p.poll() not in (None, 0)), None)
        if time.monotonic() > deadline:
            failed = next(i for i, p in enumerate(processes) if p.poll() is None)
        time.sleep(0.1)
    failed = failed if failed is not None else next((i for i, p in enumerate(processes) if p.returncode != 0), None)
    if failed is not None:
        for process in processes:  # a synchronous job cannot go on without one of its workers
            if process.poll() is None:
                process.kill()
                process.wait()
        tail = logs[failed].read_text(encoding="utf-8", errors="replace").strip().splitlines()[-30:]
        raise RuntimeError(f"{contender} {config}: worker {failed} exited with {processes[failed].returncode}\n"
                           + "\n".join(tail))
    return json.loads(results[0].read_text(encoding="utf-8"))


def quartiles(values: list[float]) -> tuple[float, float, float]:
    if len(values) < 2:
        return values[0], values[0], values[0]
    q1, q2, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q2, q3


def bench_config(config: str, spec: Path, samples: int, epochs: int, rounds: int, folder: Path) -> dict:
    """Each contender's timed epochs (seconds, "whole" and "steps"), pooled over the rounds, and per-round medians."""
    epochs_s: dict[str, dict[str, list[float]]] = {c: {"whole": [], "steps": []} for c in ("specc", "hand")}
    per_round: dict[str, list[float]] = {"specc": [], "hand": []}
    for round_ in range(rounds):
        for contender in ("specc", "hand"):  # a, b, a, b, ...: drift in machine load hits both alike
            started = time.perf_counter()
            times = run_contender(contender, config, spec, epochs, folder, f"{config}-{contender}-{round_}")
            for kind in ("whole", "steps"):
                epochs_s[contender][kind].extend(times[kind][1:])  # the first epoch traces the steps: never counted
            per_round[contender].append(samples / statistics.median(times["whole"][1:]))
            print(f"    round {round_ + 1}/{rounds} {contender:<5} {per_round[contender][-1]:>8,.0f} samples/s "
                  f"(epochs {', '.join(f'{s:.2f}' for s in times['whole'][1:])} s; "
                  f"process {time.perf_counter() - started:.0f} s)", flush=True)
    return {"epochs": epochs_s, "per_round": per_round}


def summarize(result: dict, samples: int) -> dict:
    def rates(contender: str, kind: str) -> list[float]:
        return [samples / s for s in result["epochs"][contender][kind]]

    a, b = rates("specc", "whole"), rates("hand", "whole")
    specc = result["epochs"]["specc"]
    return {
        "specc": statistics.median(a), "hand": statistics.median(b), "specc_best": max(a), "hand_best": max(b),
        "ratio": statistics.median(a) / statistics.median(b), "ratio_best": max(a) / max(b),
        "ratio_steps_best": max(rates("specc", "steps")) / max(rates("hand", "steps")),
        # specc's callbacks' on_epoch_end (history.json, the backup's weights), measured inside each epoch
        "bookkeeping_s": statistics.median(w - s for w, s in zip(specc["whole"], specc["steps"])),
        "fast_epoch_s": samples / max(a),
        # epoch-to-epoch spread: interquartile range / median of samples/s, the larger of the two contenders
        "noise": max((q3 - q1) / q2 for q1, q2, q3 in (quartiles(a), quartiles(b))),
        "per_round": [x / y for x, y in zip(result["per_round"]["specc"], result["per_round"]["hand"])],
    }


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        return child(argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 round, 3 epochs, a third of the data (a smoke test)")
    args = parser.parse_args(argv)
    samples = 4096 if args.quick else 12288
    epochs = 3 if args.quick else 6  # the first is never timed
    rounds = 1 if args.quick else 3

    started = time.perf_counter()
    print(f"specc distribution benchmark: {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} CPUs, {platform.platform()}")
    print(f"  {versions(('keras', 'tensorflow-cpu'))}, backend tensorflow")
    with contextlib.suppress(OSError, AttributeError):
        print(f"  load average at the start: {', '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print(f"Workload: MLP {FEATURES} -> {HIDDEN} -> {HIDDEN} -> {CLASSES} "
          f"({FEATURES * HIDDEN + HIDDEN * HIDDEN + HIDDEN * CLASSES + 2 * HIDDEN + CLASSES:,} parameters), "
          f"{samples:,} synthetic samples, global batch {BATCH}, Adam; {epochs} epochs per run, the first untimed; "
          f"{rounds} round(s), specc and hand-written alternating, each run in fresh processes", flush=True)

    results = {}
    with tempfile.TemporaryDirectory(prefix="specc-bench-distribute-") as tmp:
        folder = Path(tmp)
        spec = write_workload(folder, samples)
        for config, (label, _, _) in CONFIGS.items():
            print(f"  {label}:", flush=True)
            results[config] = summarize(bench_config(config, spec, samples, epochs, rounds, folder), samples)

    def verdict(ratio: float) -> str:
        return "PASS" if ratio >= TARGET else "FAIL"

    print()
    print(f"Training throughput, samples/s (global, all workers together): median (best) over the "
          f"{rounds * (epochs - 1)} timed epochs of each")
    print(f"  {'configuration':<34} {'specc':>16} {'hand-written':>16} {'vs 1 device':>14}  "
          f"{'specc/hand':>15} {'best/best':>14} {'steps':>6} {'bookkeeping':>14} {'noise':>6}")
    one_device = results["one_device"]
    noisy = []
    for config, (label, _, _) in CONFIGS.items():
        r = results[config]
        if r["noise"] > 1 - TARGET:
            noisy.append(f"{label} ({r['noise']:.0%})")
        print(f"  {label:<34} {r['specc']:>7,.0f} ({r['specc_best']:>6,.0f}) {r['hand']:>7,.0f} ({r['hand_best']:>6,.0f}) "
              f"{r['hand'] / one_device['hand']:>5.2f}x ({r['hand_best'] / one_device['hand_best']:.2f}x)  "
              f"{r['ratio']:>10.3f} {verdict(r['ratio'])} "
              f"{r['ratio_best']:>9.3f} {verdict(r['ratio_best'])} {r['ratio_steps_best']:>6.3f} "
              f"{r['bookkeeping_s'] * 1000:>4.0f} ms {r['bookkeeping_s'] / r['fast_epoch_s']:>5.1%} {r['noise']:>6.1%}")
        if len(r["per_round"]) > 1:
            print(f"  {'':<34} specc/hand round by round (medians): {', '.join(f'{x:.3f}' for x in r['per_round'])}")
    print(f"  specc/hand: ratio of the medians (whole epochs); best/best: ratio of the best epochs. Target: specc/hand "
          f">= {TARGET:.2f} (overhead at most {1 - TARGET:.0%}).")
    print("  vs 1 device: hand-written's median (best) against hand-written's on one device.")
    print("  steps: best/best without the callbacks' on_epoch_end (the training steps alone: the strategy's wiring).")
    print("  bookkeeping: what specc's callbacks do at each epoch's end (history.json, BackupAndRestore's weights),")
    print("  median per epoch, and as a share of specc's best epoch.")
    print("  noise: epoch-to-epoch interquartile range / median of samples/s (the larger of specc's and hand's).")
    if noisy:
        print(f"  NOTE: epoch-to-epoch noise exceeds the {1 - TARGET:.0%} target for {', '.join(noisy)}: a PASS or "
              "FAIL of the medians within it is not decisive. Rerun on a quiet machine where it matters.")
    print()
    print(f"total {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
