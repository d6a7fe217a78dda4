"""Atomic file writes: a reader (or a killed run) never sees half a file.

Everything specc writes goes through a temporary file in the target's folder,
renamed over the target once complete. A symlink is written through, never
replaced; a target that is not a regular file (a device such as /dev/stdout)
is written directly, since it cannot be renamed over.

A process killed mid-write (SIGKILL: nothing runs after it) leaves its
temporary file behind, hidden and named after its target with a mark that no
other file has: `.train.py.specc-k3j9x2ab.tmp` (text), `.model.keras.specc-k3j9x2ab.keras`
(`atomic_path` keeps the suffix, which Keras wants). `is_temporary` knows
them; nothing specc reads takes them for a file of its own (a spec, a run's
file), and the run folder, where one could be taken for a stranger's file,
removes them when a run claims it (`remove_temporaries`).
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from pathlib import Path
from typing import Iterator


MARK = ".specc-"  # between the target's name and mkstemp's 8 random characters
_TEMPORARY = re.compile(r"\..+" + re.escape(MARK) + r"[a-z0-9_]{8}(\.[A-Za-z0-9_.]+)?")


def is_temporary(name: str) -> bool:
    """Whether a file name is one of `atomic_path`'s temporary files (left behind only by a killed process)."""
    return _TEMPORARY.fullmatch(name) is not None


def remove_temporaries(folder: str | os.PathLike) -> None:
    """The temporary files killed writers left in `folder` removed. Only for a folder no one else writes now
    (a run folder whose lock this process holds): a live writer's file would be removed too."""
    with contextlib.suppress(OSError):
        for entry in os.scandir(folder):
            if is_temporary(entry.name) and entry.is_file(follow_symlinks=False):
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """A temporary path to write to (same folder; `suffix`, default the target's); it replaces `path` if the
    block succeeds."""
    target = Path(os.path.realpath(path))
    if target.exists() and not target.is_file():
        yield target
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}{MARK}", suffix=suffix or target.suffix or ".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        # mkstemp makes the file private (0600); give it the mode a plain write would have.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, target.stat().st_mode & 0o777 if target.exists() else 0o666 & ~umask)
        os.replace(tmp, target)
    finally:
        Path(tmp).unlink(missing_ok=True)


def write_text(path: str | os.PathLike, text: str) -> None:
    # `.tmp`, not the target's suffix: a killed codegen's leftover is no `.py` for a linter, no `.yaml` for a search
    with atomic_path(path, suffix=".tmp") as tmp:
        tmp.write_text(text, encoding="utf-8", newline="\n")


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path, suffix=".tmp") as tmp:
        tmp.write_bytes(data)
