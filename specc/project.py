"""The project a spec belongs to: its pyproject.toml's [tool.specc] plugins, and their catalog extension.

A leaf module (standard library only): the catalog reads the extension through
it without importing Keras or the plugins; `specc.plugins` writes it.
"""

from __future__ import annotations

import hashlib
import json
import sys
import tomllib
from pathlib import Path

EXTENSION = Path(".specc") / "plugins.json"
_extra: list[str] = []  # modules from --plugin, for this process


class PluginError(Exception):
    """A declared module that cannot be found or imported, or an extension that does not match them."""


def add_plugins(modules: list[str]) -> None:
    """Modules declared on the command line (`--plugin MODULE`), in addition to pyproject.toml's."""
    _extra.extend(m for m in modules if m not in _extra)


def project_root(start: Path | None = None) -> Path:
    """The folder of the nearest pyproject.toml from `start` (default: the working folder) upwards, else `start`."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "pyproject.toml").is_file():
            return folder
    return here


def declared_plugins(root: Path | None = None) -> tuple[str, ...]:
    """The plugin modules of the project: `[tool.specc] plugins`, then those given with --plugin."""
    root = root or project_root()
    try:
        with open(root / "pyproject.toml", "rb") as handle:
            listed = tomllib.load(handle).get("tool", {}).get("specc", {}).get("plugins", [])
    except (OSError, tomllib.TOMLDecodeError):
        listed = []
    if not isinstance(listed, list) or not all(isinstance(m, str) for m in listed):
        raise PluginError("[tool.specc] plugins in pyproject.toml must be a list of module names")
    return tuple(dict.fromkeys([*listed, *_extra]))


def module_source(module: str, root: Path) -> Path | None:
    """The source file of a module, found on the project folder and sys.path without importing anything."""
    parts = module.split(".")
    for base in (root, *map(Path, filter(None, sys.path))):
        for candidate in (base.joinpath(*parts).with_suffix(".py"), base.joinpath(*parts, "__init__.py")):
            if candidate.is_file():
                return candidate
    return None


def source_hashes(modules: tuple[str, ...], root: Path) -> dict[str, str | None]:
    found = {}
    for module in modules:
        path = module_source(module, root)
        found[module] = hashlib.sha256(path.read_bytes()).hexdigest() if path else None
    return found


def read_extension(root: Path | None = None) -> dict | None:
    """The project's catalog extension, or None when it has none."""
    path = (root or project_root()) / EXTENSION
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def staleness(root: Path | None = None) -> str | None:
    """Why the extension does not describe the declared modules as they are now (None: it does, or none is declared)."""
    root = root or project_root()
    modules = declared_plugins(root)
    extension = read_extension(root)
    if not modules:
        return None
    if extension is None:
        return f"the plugins {', '.join(modules)} are declared but not introspected: run `specc plugins`"
    if tuple(extension.get("plugins", ())) != modules:
        return "the declared plugins changed since `specc plugins` last ran: run it again"
    changed = [m for m, digest in source_hashes(modules, root).items() if extension.get("sources", {}).get(m) != digest]
    if changed:
        return f"{', '.join(changed)} changed since `specc plugins` last ran: run it again"
    return None
