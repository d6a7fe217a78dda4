"""Relative paths in a spec, made absolute once: from the folder of the file that wrote them.

A path in a base spec stays relative to the base's folder, one given with
`--set` to the working folder. Everything after lowering sees `File`s with
absolute paths and never resolves a path again.
"""

from __future__ import annotations

import os
from pathlib import Path

from specc.ir import File


def absolute(value: str, at: tuple, positions) -> File:
    """The file a spec value names; `at` is the value's path in the spec, `positions` the spec's SourceMap."""
    written = positions.value(at) if positions is not None else None
    folder = Path(written.file).parent if written is not None and Path(written.file).is_file() else Path.cwd()
    path = Path(os.path.expanduser(value))
    return File(os.path.abspath(path if path.is_absolute() else folder / path), value)
