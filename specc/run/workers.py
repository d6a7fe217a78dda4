"""`specc train --workers N`: a multi-worker cluster on this machine, for trying a cluster set-up.

It starts N `specc train` processes on loopback, each with the TF_CONFIG a
cluster manager (the Kubeflow training operator, say) would give it, and the
same spec, --set values and run folder. Nothing else differs from a real
cluster: the workers find their roles in TF_CONFIG, the chief (worker 0)
writes the run folder, the others write to their own temporary folders.

If a worker dies, the others are stopped (a synchronous job cannot go on
without it) and the run folder keeps every completed epoch; `--resume`
restarts all workers from the chief's last backup.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Sequence

from specc.run import folder as runs
from specc.run.distribute import Role, worker_dir

RESUME_COMMAND = "SPECC_RESUME_COMMAND"  # set for the workers it starts: how to resume the job as a whole


def free_ports(count: int) -> list[int]:
    """Ports on 127.0.0.1 that nothing listens on now (the sockets are held until all are chosen)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def tf_config(addresses: list[str], index: int) -> str:
    """TF_CONFIG for worker `index` of a cluster of workers (worker 0 is the chief, as in tf.distribute)."""
    return json.dumps({"cluster": {"worker": addresses}, "task": {"type": "worker", "index": index}})


def launch(spec_path: str, overrides: Sequence[str], run_dir: Path, resume: bool, workers: int) -> int:
    """Run the workers to the end; the exit status of the job (0 when every worker finished)."""
    addresses = [f"127.0.0.1:{port}" for port in free_ports(workers)]
    args = runs.train_command(spec_path, overrides, run_dir, resume=resume)[1:]
    # What the chief says on Ctrl-C: the command that resumes the whole job, --workers included.
    again = shlex.join(runs.train_command(spec_path, overrides, run_dir, resume=True, workers=workers))
    processes, logs = [], []
    for index in range(workers):
        env = {**os.environ, "TF_CONFIG": tf_config(addresses, index), RESUME_COMMAND: again}
        if index == 0:  # the chief speaks for the job
            processes.append(subprocess.Popen([sys.executable, "-m", "specc", *args], env=env))
            logs.append(None)
            continue
        log = worker_dir(run_dir, Role("worker", index, workers, False)).with_suffix(".log")
        with open(log, "wb") as handle:
            processes.append(subprocess.Popen([sys.executable, "-m", "specc", *args], env=env, stdout=handle,
                                              stderr=subprocess.STDOUT))
        logs.append(log)
    print(f"specc: {workers} workers on {', '.join(addresses)}; worker 0 is the chief and writes {run_dir}",
          file=sys.stderr)
    try:
        failed = _wait(processes)
    except KeyboardInterrupt:
        _stop(processes, grace=10.0)  # the workers saw Ctrl-C too; give them time to stop cleanly
        if processes[0].returncode != 130:  # else the chief said how to resume already
            _say_how_to_resume(spec_path, overrides, run_dir, workers, "interrupted")
        return 130
    if failed is None:
        for log in logs:
            if log is not None:
                log.unlink(missing_ok=True)
        return 0
    index, code = failed
    _stop(processes, grace=3.0)
    how = f"was killed by {signal.Signals(-code).name}" if code < 0 else f"exited with status {code}"
    print(f"specc: worker {index} {how}; stopped the other workers.", file=sys.stderr)
    if code > 0 and logs[index] is not None and logs[index].is_file():  # it failed: show why
        tail = logs[index].read_text(encoding="utf-8", errors="replace").strip().splitlines()[-15:]
        print(f"the last lines of worker {index}'s output ({logs[index]}):", *("  " + line for line in tail),
              sep="\n", file=sys.stderr)
    _say_how_to_resume(spec_path, overrides, run_dir, workers, "stopped")
    return 1


def _wait(processes: list[subprocess.Popen]) -> tuple[int, int] | None:
    """Until all finish (None) or one fails: (its index, its status)."""
    while True:
        running = False
        for index, process in enumerate(processes):
            code = process.poll()
            if code is None:
                running = True
            elif code != 0:
                return index, code
        if not running:
            return None
        time.sleep(0.2)


def _stop(processes: list[subprocess.Popen], grace: float) -> None:
    deadline = time.monotonic() + grace
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _say_how_to_resume(spec_path: str, overrides: Sequence[str], run_dir: Path, workers: int, what: str) -> None:
    if (run_dir / runs.RESOLVED).is_file() and not (run_dir / runs.METRICS).is_file():
        print(f"specc: {what}; {run_dir} keeps every completed epoch. Continue with --resume:\n"
              f"  {shlex.join(runs.train_command(spec_path, overrides, run_dir, resume=True, workers=workers))}", file=sys.stderr)
