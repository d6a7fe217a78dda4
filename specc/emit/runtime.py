"""specc's own runtime code, as source for the generated script: one copy of each function.

The script stands alone (keras, tensorflow, numpy and the standard library), yet its
transforms and its multi-worker repair are the very functions specc runs: this reads
them from specc's module files with `ast`, never by importing them, so that codegen
imports neither NumPy nor TensorFlow. The files are found beside this one, inside the
installed package, so a wheel works as a checkout does.

`runtime_source("specc.data.transforms", ["rescale", "one_hot"])` gives those functions
and every module-level definition they use (`TransformError`, `check_numeric`), whole
lines with their comments and docstrings, in the order of the file. The module-level
imports they use must be among `imports`, the script's own: anything else is an error
here, at codegen, rather than a NameError in a script.
"""

from __future__ import annotations

import ast
import builtins
from dataclasses import dataclass
from functools import cache
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent  # the installed specc/ folder
BUILTINS = frozenset(dir(builtins))


@dataclass(frozen=True)
class _Module:
    """A runtime module's top-level definitions (functions, classes, constants) and imports."""

    lines: list[str]
    definitions: dict[str, ast.stmt]  # name -> its statement, in file order
    imports: dict[str, str]  # bound name -> the import statement that binds it, as source


def runtime_source(module: str, names: list[str], imports: tuple[str, ...] = ("import numpy as np",)) -> str:
    """The source of `names` from `module` (a dotted specc module) and of what they use, two blank lines apart.

    imports: the import statements the script has, as written (`import numpy as np`). A name the
    module imports from another specc module (`from specc.data.batches import transform_batch`) is
    copied from there too, before what uses it.
    """
    texts: list[str] = []
    _copy(module, names, imports, texts, set())
    return "\n\n\n".join(texts)


def _copy(module: str, names: list[str], imports: tuple[str, ...], texts: list[str], copied: set) -> None:
    """Appends to `texts` the definitions of `names` in `module`, and first those they need from other specc modules."""
    parsed = _parse(module)
    wanted, todo = set(), list(names)
    elsewhere: dict[str, list[str]] = {}  # another specc module -> the names to copy from it
    while todo:
        name = todo.pop()
        if name in wanted:
            continue
        if name not in parsed.definitions:
            raise ValueError(f"{module} has no top-level {name!r} to copy into the script")
        wanted.add(name)
        for used in sorted(_free_names(parsed.definitions[name])):
            if used in parsed.definitions:
                todo.append(used)
            elif used in parsed.imports:
                statement = ast.parse(parsed.imports[used]).body[0]
                if isinstance(statement, ast.ImportFrom) and (statement.module or "").startswith(PACKAGE.name + ".") \
                        and statement.names[0].asname is None:
                    elsewhere.setdefault(statement.module, []).append(used)
                elif parsed.imports[used] not in imports:
                    raise ValueError(f"{module}.{name} needs `{parsed.imports[used]}`, which the script does not "
                                     f"have (it has {', '.join(imports) or 'no imports'})")
            elif used not in BUILTINS:
                raise ValueError(f"{module}.{name} uses {used!r}, which is neither defined nor imported there")
    for other, needed in elsewhere.items():
        _copy(other, needed, imports, texts, copied)
    for name, node in parsed.definitions.items():
        if name in wanted and (module, name) not in copied:
            copied.add((module, name))
            texts.append(_text(parsed.lines, node))


@cache
def _parse(module: str) -> _Module:
    package, *parts = module.split(".")
    if package != PACKAGE.name or not parts:
        raise ValueError(f"not a module of {PACKAGE.name}: {module!r}")
    path = PACKAGE.joinpath(*parts).with_suffix(".py")
    text = path.read_text(encoding="utf-8")
    tree = ast.parse(text, filename=str(path))
    definitions: dict[str, ast.stmt] = {}
    bound: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            definitions[node.name] = node
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                if isinstance(target, ast.Name):
                    definitions[target.id] = node
        elif isinstance(node, ast.Import | ast.ImportFrom):
            for alias in node.names:
                one = ast.Import([alias]) if isinstance(node, ast.Import) else ast.ImportFrom(node.module, [alias], node.level)
                bound[alias.asname or alias.name.split(".")[0]] = ast.unparse(one)
    return _Module(text.splitlines(), definitions, bound)


def _free_names(node: ast.stmt) -> set[str]:
    """The names a definition reads that it does not bind itself (its globals, roughly: enough for plain code)."""
    read, bound = set(), set()
    for child in ast.walk(node):
        if isinstance(child, ast.Name):
            (read if isinstance(child.ctx, ast.Load) else bound).add(child.id)
        elif isinstance(child, ast.arg):
            bound.add(child.arg)
        elif isinstance(child, ast.Import | ast.ImportFrom):
            bound.update(alias.asname or alias.name.split(".")[0] for alias in child.names)
        elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and child is not node:
            bound.add(child.name)
    return read - bound


def _text(lines: list[str], node: ast.stmt) -> str:
    """The definition's whole lines (decorators, trailing comments and all)."""
    first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
    return "\n".join(lines[first - 1:node.end_lineno])
