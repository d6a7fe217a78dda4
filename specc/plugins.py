"""A project's own Keras objects: declared modules, introspected once into a catalog extension.

A project declares the Python modules that hold its Keras classes in one
place, `[tool.specc] plugins = ["mypkg.layers"]` in its pyproject.toml (or
`--plugin MODULE`); a spec then names a class by the name Keras registers it
under (`keras.saving.register_keras_serializable(package="mypkg")`), e.g.
`- mypkg>TransformerBlock: {units: 32}`. A spec alone can never name a module
to import: only declared modules are ever imported, and only their
registered classes are in the catalog.

`specc plugins` imports the declared modules once (with Keras) and writes
`.specc/plugins.json` beside pyproject.toml: each registered class described
as the Keras catalog describes Keras's own (arguments from its signature,
docstrings for hover, call signature for layers), and the sha256 of every
module's source, so that `specc validate` (which imports neither Keras nor
the modules) can tell when the extension is stale. `load_catalog()` merges it
into the catalog of Keras's API; the JSON Schema (`specc schema`) then offers
the classes to editors too.

Building imports the declared modules and takes each class from its module
(`mypkg.layers.TransformerBlock`); the generated script imports them and says
so at its top; a saved model loads wherever the modules are imported, through
Keras's registration.
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import sys
from pathlib import Path
from typing import Any

from specc.project import EXTENSION, PluginError, declared_plugins, project_root, read_extension, source_hashes

# The kinds a registered class can be, by the Keras base class it subclasses (as the catalog's kinds); a
# Model is a Layer too, so it is tried first.
PLUGIN_KINDS = ("model", "layer", "loss", "metric", "callback", "initializer", "regularizer", "constraint", "optimizer",
                "schedule")
MODEL_BASE = "keras.Model"


def import_plugins(modules: tuple[str, ...], root: Path) -> list[Any]:
    """Import the declared modules (the project folder first on the path), as building and introspecting need."""
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    imported = []
    for module in modules:
        try:
            imported.append(importlib.import_module(module))
        except Exception as err:  # ImportError, or whatever the module's own code raises
            raise PluginError(f"plugin module {module!r} cannot be imported: {type(err).__name__}: {err}") from None
    return imported


def introspect(root: Path | None = None) -> dict:
    """The catalog extension of the declared modules: every Keras object they register, described (imports them)."""
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras

    from specc.catalog import generate

    root = root or project_root()
    modules = declared_plugins(root)
    import_plugins(modules, root)
    kinds: dict[str, dict] = {}
    for registered, obj in sorted(keras.saving.get_custom_objects().items()):
        owner = getattr(obj, "__module__", "")
        if not inspect.isclass(obj) or not any(owner == m or owner.startswith(m + ".") for m in modules):
            continue
        kind = next((k for k in PLUGIN_KINDS if _subclasses(obj, MODEL_BASE if k == "model" else generate.KINDS[k][1])),
                    None)
        if kind is None:
            continue
        entry = generate.describe(obj, kind, f"{owner}.{obj.__qualname__}")
        entry["plugin"] = registered
        kinds.setdefault(kind, {})[registered] = entry
    return {"about": "DO NOT EDIT. Written by `specc plugins` from the modules in [tool.specc] plugins.",
            "plugins": list(modules), "sources": source_hashes(modules, root), "kinds": kinds}


def _subclasses(obj: type, base_path: str | None) -> bool:
    from specc.catalog.generate import resolve

    return base_path is not None and issubclass(obj, resolve(base_path))


def write_extension(root: Path | None = None) -> tuple[Path, dict]:
    """Introspect the declared modules and write the extension; (its path, its content)."""
    from specc.atomic import write_text

    root = root or project_root()
    extension = introspect(root)
    path = root / EXTENSION
    path.parent.mkdir(exist_ok=True)
    write_text(path, json.dumps(extension, indent=1, sort_keys=True) + "\n")
    return path, extension


def plugin_object(path: str) -> Any:
    """The class at a plugin's catalog path, from a declared module only (importing the declared modules)."""
    root = project_root()
    modules = declared_plugins(root) or tuple((read_extension(root) or {}).get("plugins", ()))
    module, _, name = path.rpartition(".")
    if not any(module == m or module.startswith(m + ".") for m in modules):
        raise PluginError(f"{path} is in no declared plugin module ({', '.join(modules) or 'none declared'})")
    import_plugins(modules, root)
    return getattr(importlib.import_module(module), name)
