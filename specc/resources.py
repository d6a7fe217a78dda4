"""Where specc's data folders are: inside the installed wheel, or in the source tree.

The repository keeps `schemas/` and `templates/` at its top level (the client's
layout). A built wheel carries copies under `specc/_data/`; an editable
install or a checkout reads them from the repository itself.
"""

from __future__ import annotations

from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    """The folder `schemas` or `templates`, wherever this specc was installed from."""
    for candidate in (_PACKAGE / "_data" / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"specc's {name!r} folder is missing from {_PACKAGE}: reinstall specc")


def builtin_data_file(name: str) -> Traversable:
    """The gzipped CSV of a `{builtin: NAME}` dataset, shipped inside the package (specc/data/builtin/)."""
    return files("specc.data").joinpath("builtin", f"{name}.csv.gz")
