"""Running the scripts `specc codegen` writes, as their users do: imported, or trained in a process of their own."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

# A process of its own (a fresh Keras: names, seeds and the graph as a user's run has them), the script imported and
# its train(out=...) called: it prints [history, metrics] as JSON.
_TRAIN = ("import importlib.util, json, sys; spec = importlib.util.spec_from_file_location('g', sys.argv[1]); "
          "g = importlib.util.module_from_spec(spec); spec.loader.exec_module(g); "
          "history, metrics = g.train(out=sys.argv[2], **json.loads(sys.argv[3])); "
          "print(json.dumps([history, metrics]))")


def import_script(path: Path, name: str = "generated"):
    """The generated script as a module, in this process (importing it runs nothing: its main() is guarded)."""
    found = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(found)
    found.loader.exec_module(module)
    return module


def train_script(script: Path, out: Path, timeout: int = 300, **arguments) -> tuple[dict, dict]:
    """(history, metrics) of the script's train(out=out, **arguments), run in a new Python process."""
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "PYTHONWARNINGS": "ignore"}
    done = subprocess.run([sys.executable, "-c", _TRAIN, str(script), str(out), json.dumps(arguments)],
                          capture_output=True, text=True, env=env, timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]
    history, metrics = json.loads(done.stdout.strip().splitlines()[-1])
    return history, metrics
