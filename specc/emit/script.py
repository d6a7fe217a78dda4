"""Backend 2, emit: a lowered spec as a standalone Keras script (Jinja templates in templates/).

Python prepares every line (`ScriptView`); the templates only lay them out.
Every value from a spec enters the code through `literal` (repr-based, so a
name with quotes, backslashes, newlines or `{{ }}` stays a string), every
variable name through `identifier`, and every Keras name from the catalog
(`specc.lower.values.describe`): nothing a spec says can become code that
was not meant. The script builds exactly what `specc.build_model` builds,
in the same order, so the same seed gives the same weights.

Importing this module does not import Keras.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from functools import cache
from typing import Any, Mapping

from specc import __version__
from specc.emit.model import compile_code, model_code
from specc.emit.source import INDENT, literal, long_literal
from specc.ir import BuiltinSource, Call, LayerNode, ModelClass, Spec
from specc.resources import builtin_data_file

# -- the script ---------------------------------------------------------------------------


@dataclass
class ScriptView:
    """Everything the template prints, prepared in Python."""

    spec_path: str  # as literals
    spec_sha256: str
    specc_version: str
    description: str
    seed: str | None
    model_lines: list[str]
    compile_lines: list[str]
    needs_frozen: bool
    functions: list[str]  # the blocks' functions, complete
    header_version: str  # for the comment lines at the top: literals, so nothing in them can end a comment
    header_source: str
    header_sha256: str
    imports: list[str] = field(default_factory=lambda: ["import os"])  # before os.environ is set
    keras_imports: list[str] = field(default_factory=lambda: ["import keras  # noqa: E402"])
    data: Any = None  # specc.emit.data.DataView: load_data(), make_dataset(), train(), main(), for specs with `data:`


@cache
def _environment():
    import jinja2

    from specc.resources import data_dir

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(data_dir("templates"))),
        undefined=jinja2.StrictUndefined,  # a missing view field is an error, not an empty string
        autoescape=False,  # Python, not HTML
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def script_view(spec: Spec, spec_path: str, script_dir: Path | None = None) -> ScriptView:
    code = model_code(spec, script_dir)
    indented = [INDENT + line for text in code.lines for line in text.splitlines()]
    sha256 = spec.sha256
    view = ScriptView(
        spec_path=long_literal(spec_path, "", len("SPEC = ")),
        spec_sha256=literal(sha256),
        specc_version=literal(__version__),
        description=literal(spec.description or spec.name),
        seed=literal(spec.seed) if spec.seed is not None else None,
        model_lines=indented,
        compile_lines=compile_code(spec),
        needs_frozen=code.needs_frozen,
        functions=code.functions,
        header_version=__version__,
        # The path as given, or its file name where the path would not fit in a line (SPEC holds it whole).
        header_source=literal(spec_path) if len(literal(spec_path)) <= 90 else literal(Path(spec_path).name),
        header_sha256=sha256,
    )
    plugins = plugin_modules(spec)
    view.keras_imports += [f"import {module}  # noqa: E402  (the project's own Keras classes: [tool.specc] plugins)"
                           for module in plugins]
    if spec.data is not None:
        from specc.emit.data import data_view  # the data and training parts, for specs with data

        view.data = data_view(spec, script_dir)
        needs = set(view.data.helpers)
        multi_worker = view.data.distribution is not None and view.data.distribution.multi_worker
        modules = {"argparse", "json", "os", *(["csv", "math"] if {"read_csv", "scan_csv"} & needs else []),
                   *(["gzip", "importlib.util"] if "read_builtin" in needs else []),
                   *(["hashlib", "shutil", "tempfile", "types"] if multi_worker else []), *view.data.modules}
        view.imports = [f"import {name}" for name in sorted(modules)]
        view.keras_imports += ["import numpy as np  # noqa: E402", "import tensorflow as tf  # noqa: E402"]
    return view


def plugin_modules(spec: Spec) -> list[str]:
    """The modules of the project's own classes the spec uses (declared plugins), which the script imports."""
    found: set[str] = set()

    def visit(value: Any) -> None:
        if isinstance(value, (Call, LayerNode, ModelClass)):
            path = value.keras_path if isinstance(value, LayerNode) else value.path
            if not path.startswith("keras."):
                found.add(path.rpartition(".")[0])
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            for item in dataclasses.fields(value):
                if item.name not in ("positions", "canonical"):
                    visit(getattr(value, item.name))
        elif isinstance(value, Mapping):
            for item in value.values():
                visit(item)
        elif isinstance(value, (list, tuple)):
            for item in value:
                visit(item)

    visit(spec)
    return sorted(found)


def shipped_data(spec: Spec) -> dict[str, bytes]:
    """The data files that ship with specc and that the script reads, by file name: written beside it,
    they let it run where specc is not installed (it also finds specc's own copy)."""
    source = spec.data.source if spec.data is not None else None
    if not isinstance(source, BuiltinSource):
        return {}
    shipped = builtin_data_file(source.name)
    return {shipped.name: shipped.read_bytes()}


def render_script(spec: Spec, spec_path: str | None = None, script_path: str | Path | None = None) -> str:
    """The standalone Python script for a spec (deterministic: same spec, same bytes).

    script_path: where the script will be written, so that it finds the spec's data files from
    its own folder; None for a script printed to stdout (then: from the working folder).
    """
    script_dir = Path(script_path).parent if script_path is not None else None
    view = script_view(spec, spec_path or spec.path, script_dir)
    return _environment().get_template("script.py.j2").render(view=view)
