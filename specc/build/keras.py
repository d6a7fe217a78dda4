"""Keras itself, for the build backend: importing it, its objects at catalog paths, and its messages.

The only module of specc that turns names into Keras objects. Only paths from
the catalog (Keras's public API, under `keras.`) are ever looked up: nothing
in a spec can name an arbitrary import path.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import re
import sys
from typing import Any

from specc.ir import Call, File


def import_keras():
    """Keras, with the backend specc was written for unless the environment says otherwise.

    Without KERAS_BACKEND, Keras reads ~/.keras/keras.json, which may name any backend.
    TensorFlow prints start-up lines at import that no log level hides (absl's "All log messages
    before absl::InitializeLog() ...", oneDNN's notice): specc hides them unless SPECC_TF_LOGS=1.
    """
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    try:
        if os.environ.get(TF_LOGS, "") not in ("", "0") or "keras" in sys.modules:
            import keras

            return keras
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")  # TensorFlow's INFO lines after start-up, too
        with _without_start_up_lines():
            import keras
    except ModuleNotFoundError as err:
        if (err.name or "").partition(".")[0] not in ML_STACK:
            raise
        raise MLStackMissing(f"Keras and TensorFlow are not installed (no module named {err.name!r}): "
                             f"{ML_INSTALL}", name=err.name) from None

    return keras


ML_STACK = ("keras", "tensorflow", "numpy")  # what `specc-keras[ml]` installs for build, check and train
ML_INSTALL = "pip install 'specc-keras[ml]'"


class MLStackMissing(ModuleNotFoundError):
    """Keras or TensorFlow is not installed: the base install of specc validates and generates code only."""


TF_LOGS = "SPECC_TF_LOGS"  # set to 1: TensorFlow's start-up lines are shown
_TF_START_UP = re.compile(r"WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
                          r"|I\d{4} [\d:.]+ +\d+ [\w.]+:\d+\] .*"  # C++ INFO lines: oneDNN's notice, CPU features
                          r"|To enable the following instructions: .*")  # the CPU features notice, continued


@contextlib.contextmanager
def _without_start_up_lines():
    """The process's standard error (file descriptor 2, where TensorFlow's C++ logging writes) held in
    a file, then shown less TensorFlow's start-up lines: warnings, errors and anything else printed
    are kept, also when the import fails."""
    import tempfile

    try:
        saved = os.dup(2)
    except OSError:  # no standard error to hold back
        yield
        return
    with tempfile.TemporaryFile() as held:  # a file, not a pipe, which could fill up and block the import
        sys.stderr.flush()
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            lines = held.read().decode("utf-8", "replace").splitlines(keepends=True)
            shown = "".join(line for line in lines if not _TF_START_UP.fullmatch(line.rstrip("\r\n")))
            if shown:
                sys.stderr.write(shown)
                sys.stderr.flush()


def keras_callable(path: str) -> Any:
    """The Keras class or function at a catalog path, e.g. keras.layers.Dense, or a project's own class
    (`mypkg.layers.TransformerBlock`), from a module the project declares as a plugin, never from the spec."""
    module, _, attr = path.rpartition(".")
    if not module.startswith("keras"):  # the catalog holds Keras's public API and the declared plugins' classes
        from specc.plugins import plugin_object

        return plugin_object(path)
    return getattr(importlib.import_module(module), attr)


class Refused(Exception):
    """Keras refused to make a described object.

    `cause` is Keras's error (the text of this one); `objects` the spec path and class name of the
    object refused and of each object it is an argument of, outermost first; `at` the path of the
    argument Keras's message is about, else of the object.
    """

    def __init__(self, cause: Exception, objects: tuple[tuple[tuple, str], ...], at: tuple):
        super().__init__(str(cause) or type(cause).__name__)
        self.cause, self.objects, self.at = cause, objects, at


def realize(value: Any, path: tuple = ()) -> Any:
    """A description as Keras objects: every Call made (imports Keras), files as their absolute paths.

    `path` is where the value is in the spec: a Call that Keras refuses raises `Refused`, which
    names it by the spec's paths (an argument `{L2: ...}` at `path + ("L2", "l2")`), innermost first.
    """
    return _realize(value, path, ())


def _realize(value: Any, path: tuple, within: tuple) -> Any:
    if isinstance(value, File):
        return value.path
    if isinstance(value, Call):
        name = value.path.rpartition(".")[2]  # the class name the spec wrote: the catalog's paths end in it
        objects = within + ((path, name),)
        kwargs = {key: _realize(v, path + (name, key), objects) for key, v in value.kwargs.items()}
        try:
            return keras_callable(value.path)(**kwargs)
        except Exception as err:  # Keras raises ValueError, TypeError, ... for arguments it refuses
            argument = keras_argument(err, kwargs)
            raise Refused(err, objects, path + (name, argument) if argument else path) from err
    if isinstance(value, list):
        return [_realize(v, path + (i,), within) for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {key: _realize(v, path + (key,), within) for key, v in value.items()}
    return value


_NAMED = (re.compile(r"(\w+)="), re.compile(r"`(\w+)"), re.compile(r"Invalid (\w+)"))


def keras_argument(err: Exception, names) -> str | None:
    """Which of the arguments `names` Keras's error is about: the first named after "Received"
    (`Received: decay_steps=0`), else in backquotes (`sparse=True`), else after "Invalid"
    (`Invalid dtype: bogus`); None when it names none of them."""
    text = str(err)
    received = text.partition("Received")[2]
    candidates = [*_NAMED[0].findall(received), *_NAMED[1].findall(text), *_NAMED[2].findall(text)]
    return next((name for name in candidates if name in names), None)


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_KERAS_PREAMBLE = re.compile(r"^Exception encountered when calling [\w.]+\(\)\.\s*")
_RANK_HINT = re.compile(r"expected (min_)?ndim=(\d+), found ndim=(\d+)")


def keras_message(err: Exception) -> str:
    """Keras's message without its decorations: colour codes, the "Exception encountered when
    calling X.call()." preamble and the call context it appends ("Arguments received by ...")."""
    text = _ANSI.sub("", str(err)).strip() or type(err).__name__
    for marker in ("Arguments received by", "Call arguments received"):
        text = text.split(marker)[0]
    lines = [_KERAS_PREAMBLE.sub("", line.strip()) for line in text.splitlines()]
    text = " ".join(line for line in lines if line).replace(".Received:", ". Received:")[:600] or type(err).__name__
    rank = _RANK_HINT.search(text)
    if rank:  # Keras states ranks with the batch axis; say what to do about it
        text += (f" (the layer takes inputs of rank {rank.group(2)}, batch axis included: add a Reshape before it"
                 f"{' or a Flatten' if int(rank.group(3)) > int(rank.group(2)) else ''})")
    return text


@contextlib.contextmanager
def fresh_operation_names():
    """Keras's automatic names counted from zero while a model is made, then the process's counts back.

    specc names every layer itself; what Keras names is the operations of tensor
    expressions (`sqrt`, `subtract`, `get_item`), from a counter global to the
    process. Counting afresh gives them the names a new process (`specc build`,
    the generated script) gives, whatever was built before. Keras keeps the
    counter in its global state (`keras.src.utils.naming`); if that moves, names
    are Keras's as they come.
    """
    try:
        from keras.src.backend.common import global_state
    except ImportError:  # a Keras without it: its own names
        yield
        return
    key = "object_name_uids"
    saved = global_state.get_global_attribute(key)
    global_state.set_global_attribute(key, None)
    try:
        yield
    finally:
        global_state.set_global_attribute(key, saved)
