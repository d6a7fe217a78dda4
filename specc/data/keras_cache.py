"""`keras.datasets`, read through Keras's own loaders and cache, with clear errors offline.

Keras's loaders fetch their files with `keras.utils.get_file`, which on a
machine without network raises a bare `Exception: URL fetch failure`, and
which deletes a cached file whose hash does not match before downloading it
again. specc runs the real `load_data` with that module's `get_file` wrapped
for the duration of the call:

* a cached file with the wrong hash is never handed to Keras: specc reports it
  (which file, which hash) and leaves it exactly as it is. (Backing it up and
  restoring it around Keras's call would leave a window in which an interrupted
  run loses the user's file; not calling Keras on it has none.)
* a file not in the cache is downloaded by Keras as usual, under a socket
  timeout so a dead network cannot hang the run; when that fails the error
  names the file, where Keras looked, and where to place it.
"""

from __future__ import annotations

import contextlib
import contextvars
import inspect
import os
import socket
import sys
import threading
from collections.abc import Callable
from typing import Any

DOWNLOAD_TIMEOUT_S = 30.0  # per connect and per read, not for the whole download
_PATCH_LOCK = threading.Lock()  # one load at a time may swap a loader module's get_file


class CacheProblem(Exception):
    """A file a Keras loader needs that is missing or damaged; the message is for the user."""


class NotCached(CacheProblem):
    """Under `no_downloads()`: a file the loader needs is not in Keras's cache (`target`: where Keras looked)."""

    def __init__(self, target: str):
        super().__init__(f"{target} is not in Keras's cache")
        self.target = target


_DOWNLOADS = contextvars.ContextVar("specc_keras_downloads", default=True)


@contextlib.contextmanager
def no_downloads():
    """Loads inside refuse, with NotCached, a file not in Keras's cache instead of downloading it (`specc check`)."""
    token = _DOWNLOADS.set(False)
    try:
        yield
    finally:
        _DOWNLOADS.reset(token)


def load_keras_dataset(name: str, kwargs: dict[str, Any]) -> tuple[tuple, tuple]:
    """`keras.datasets.<name>.load_data(**kwargs)`; raises CacheProblem, whose message is for the user, on any failure."""
    from specc.build.keras import import_keras  # quiet, and the backend specc was written for

    keras = import_keras()

    load = getattr(keras.datasets, name).load_data
    module = sys.modules[load.__module__]
    read: list[str] = []  # the cached files the loader got, to name them if reading one fails
    with _PATCH_LOCK:
        inner = module.get_file
        module.get_file = _guarded(inner, f"keras.datasets.{name}", read)
        try:
            return load(**kwargs)
        except CacheProblem:
            raise
        except Exception as err:  # a damaged file in the cache (no hash guards fashion_mnist's), a value load_data refuses
            files = f" (it read {', '.join(read)}; delete a damaged file to let Keras download it again)" if read else ""
            raise CacheProblem(f"keras.datasets.{name}.load_data failed: {type(err).__name__}: {err}{files}") from err
        finally:
            module.get_file = inner


def load_data_parameters(name: str) -> list[str]:
    """The keyword arguments `keras.datasets.<name>.load_data` takes."""
    from specc.build.keras import import_keras  # quiet, and the backend specc was written for

    keras = import_keras()

    parameters = inspect.signature(getattr(keras.datasets, name).load_data).parameters.values()
    return [p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def cache_target(fname: str | None, origin: str, cache_subdir: str = "datasets", extract: bool = False, untar: bool = False,
                 cache_dir: str | None = None) -> str:
    """The path `keras.utils.get_file` reads from (and downloads to), computed as Keras 3.15 does."""
    import urllib.parse

    from keras.src.backend import config

    base = os.path.expanduser(cache_dir if cache_dir is not None else config.keras_home())
    if not os.access(base, os.W_OK):  # Keras falls back to /tmp/.keras when the cache folder is not writable
        base = os.path.join("/tmp" if os.path.isdir("/tmp") else __import__("tempfile").gettempdir(), ".keras")
    datadir = os.path.join(base, cache_subdir)
    provided = fname
    fname = os.fspath(fname) if fname else os.path.basename(urllib.parse.urlsplit(origin).path)
    if (extract or untar) and not (provided and "." in fname):
        return os.path.join(datadir, f"{fname}_archive")
    return os.path.join(datadir, fname)


def _guarded(inner: Callable, dataset: str, read: list[str]) -> Callable:
    from keras.src.utils import file_utils

    signature = inspect.signature(file_utils.get_file)

    def get_file(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        a = bound.arguments
        target = cache_target(a["fname"], a["origin"], a["cache_subdir"], a["extract"], a["untar"], a["cache_dir"])
        file_hash, algorithm = a["file_hash"], a["hash_algorithm"]
        if a["md5_hash"] is not None and file_hash is None:
            file_hash, algorithm = a["md5_hash"], "md5"
        if os.path.exists(target):
            if file_hash is not None and not file_utils.validate_file(target, file_hash, algorithm=algorithm):
                raise CacheProblem(_hash_message(dataset, target, file_hash, algorithm, a["origin"]))
            # Verified here: Keras need not hash it again (and so can never delete it).
            read.append(target)
            return inner(**{**a, "file_hash": None, "md5_hash": None})
        if not _DOWNLOADS.get():
            raise NotCached(target)
        previous = socket.getdefaulttimeout()
        socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
        try:
            got = inner(**a)
            read.append(str(got))
            return got
        except Exception as err:  # Keras raises a bare Exception for "URL fetch failure"
            if str(err).startswith("URL fetch failure") or isinstance(err, OSError):
                raise CacheProblem(_missing_message(dataset, target, a["origin"], err)) from err
            if isinstance(err, ValueError) and "file hash does not match" in str(err):
                raise CacheProblem(f"{dataset}: the download of {a['origin']} to {target} is incomplete or corrupted "
                                   f"(its hash does not match the one Keras expects); delete it and try again") from err
            raise
        finally:
            socket.setdefaulttimeout(previous)

    return get_file


def _missing_message(dataset: str, target: str, origin: str, err: Exception) -> str:
    reason = str(err) or type(err).__name__
    return (f"{dataset} needs {os.path.basename(target)}, which is not in Keras's cache, and downloading it failed ({reason}). "
            f"Keras looked for {target}; without network, download {origin} elsewhere and save it as that file "
            "(Keras's cache folder is $KERAS_HOME, by default ~/.keras)")


def _hash_message(dataset: str, target: str, expected: str, algorithm: str, origin: str) -> str:
    from keras.src.utils import file_utils

    if algorithm == "auto":
        algorithm = "sha256" if len(expected) == 64 else "md5"
    found = file_utils.hash_file(target, algorithm=algorithm)
    return (f"the cached file {target} does not match the {algorithm} hash Keras expects for {dataset} "
            f"(expected {expected[:16]}..., found {found[:16]}...): it is incomplete or not the original. "
            "Keras would delete it and download it again; specc left it untouched. "
            f"Replace it with {origin}, or move it away to let Keras download it; "
            "to train on arrays of your own, use `source: {npz: ...}`")
