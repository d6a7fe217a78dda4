"""The package's shape, checked from its source: the layering stays as the pipeline drew it.

The lowering stage hands the backends one complete IR, so nothing after it (build, emit,
run, data) may read the raw spec again; modules form no import cycles, so each stage can be
read and tested apart; private names stay in the module that defines them; and no function
grows past 80 lines, where a stage starts hiding inside another.

Every check reads the files with `ast` and never imports specc, so a broken module cannot
hide an offence, and each check runs over a small fake package first to prove it can fail.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "specc"

MAX_FUNCTION_LINES = 80

# The stages that run after lowering: they read the IR, never the YAML or the pydantic document.
AFTER_LOWERING = ("build", "emit", "run", "data")
RAW_SPEC_ATTRIBUTES = frozenset({"resolved", "document"})

# The data stage shares these plain constant tuples with the schema, which lists them as the
# allowed values; they are facts about Keras and NumPy, not parts of the document models.
SCHEMA_IMPORTS_ALLOWED = {
    "data": {"schema.data": frozenset({"KERAS_DATASETS", "BUILTIN_DATASETS", "DTYPES"})},
}


@dataclass(frozen=True)
class Module:
    """One source file of the package, under its dotted name."""

    name: str
    path: Path
    tree: ast.Module
    is_package: bool

    @property
    def package(self) -> str:
        """The package that relative imports in this module start from."""
        return self.name if self.is_package else self.name.rpartition(".")[0]


@dataclass(frozen=True)
class Import:
    """One name a module imports: `module` is the module it comes from, `name` None for `import m`."""

    line: int
    module: str
    name: str | None


def load_package(package_dir: Path) -> dict[str, Module]:
    """Every module of the package, by dotted name (`specc.source.files`, `specc.source`)."""
    modules = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = path.relative_to(package_dir.parent).with_suffix("").parts
        is_package = parts[-1] == "__init__"
        name = ".".join(parts[:-1] if is_package else parts)
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        modules[name] = Module(name, path, tree, is_package)
    return modules


def where(module: Module, line: int) -> str:
    try:
        shown = module.path.relative_to(ROOT)
    except ValueError:
        shown = module.path
    return f"{shown}:{line}"


def source_of(module: Module, node: ast.ImportFrom) -> str:
    """The absolute module a `from ... import` reads from, relative levels resolved."""
    if not node.level:
        return node.module or ""
    base = module.package.split(".")
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports(module: Module) -> Iterator[Import]:
    """Every import in the module, at the top level or inside a function (a lazy import still binds)."""
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(node.lineno, alias.name, None)
        elif isinstance(node, ast.ImportFrom):
            source = source_of(module, node)
            for alias in node.names:
                yield Import(node.lineno, source, alias.name)


def target(imported: Import, modules: dict[str, Module]) -> str | None:
    """The package module an import depends on: the submodule when the name is one, else the module."""
    if imported.name is not None and f"{imported.module}.{imported.name}" in modules:
        return f"{imported.module}.{imported.name}"
    if imported.module in modules:
        return imported.module
    # `import specc.a.missing` or a third-party module: depend on the nearest package module, if any.
    prefix = imported.module
    while "." in prefix:
        prefix = prefix.rpartition(".")[0]
        if prefix in modules:
            return prefix
    return None


def import_graph(modules: dict[str, Module]) -> dict[str, dict[str, int]]:
    """For each module, the package modules it imports and the first line that does."""
    graph: dict[str, dict[str, int]] = {name: {} for name in modules}
    for name, module in modules.items():
        for imported in imports(module):
            dependency = target(imported, modules)
            if dependency is not None and dependency != name:
                graph[name].setdefault(dependency, imported.line)
    return graph


def strongly_connected(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative so a deep package cannot exhaust the recursion limit."""
    index: dict[str, int] = {}
    lowlink: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = lowlink[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, successors = work[-1]
            for successor in successors:
                if successor not in index:
                    index[successor] = lowlink[successor] = len(index)
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(sorted(graph[successor]))))
                    break
                if successor in on_stack:
                    lowlink[node] = min(lowlink[node], index[successor])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    lowlink[parent] = min(lowlink[parent], lowlink[node])
                if lowlink[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    components.append(sorted(component))
    return components


def import_cycles(modules: dict[str, Module]) -> list[str]:
    graph = import_graph(modules)
    offences = []
    for component in strongly_connected(graph):
        if len(component) < 2:
            continue
        members = set(component)
        edges = [
            f"{where(modules[name], line)}: {name} imports {dependency}"
            for name in component
            for dependency, line in sorted(graph[name].items())
            if dependency in members
        ]
        offences.append(f"cycle among {', '.join(component)}:\n    " + "\n    ".join(edges))
    return offences


def is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def dotted(node: ast.expr) -> str | None:
    """`a.b.c` for an attribute chain on a plain name, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))


def module_aliases(module: Module, modules: dict[str, Module]) -> dict[str, str]:
    """The local names this module binds to package modules (`import specc.x as x`, `from specc import x`)."""
    top_levels = {name.partition(".")[0] for name in modules}
    aliases = {}
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.partition(".")[0] in top_levels:
                    # `import specc.x` binds `specc`; the attribute chain then spells the module out.
                    bound = alias.asname or alias.name.partition(".")[0]
                    aliases[bound] = alias.name if alias.asname else bound
        elif isinstance(node, ast.ImportFrom):
            source = source_of(module, node)
            for alias in node.names:
                if f"{source}.{alias.name}" in modules:
                    aliases[alias.asname or alias.name] = f"{source}.{alias.name}"
    return aliases


def private_imports(modules: dict[str, Module]) -> list[str]:
    offences = []
    for name, module in modules.items():
        for imported in imports(module):
            if imported.name is None or not is_private(imported.name):
                continue
            source = target(imported, modules)
            if source is not None and source != name:
                offences.append(f"{where(module, imported.line)}: imports private {imported.name} from {imported.module}")
        aliases = module_aliases(module, modules)
        for node in ast.walk(module.tree):
            if not (isinstance(node, ast.Attribute) and is_private(node.attr)):
                continue
            chain = dotted(node.value)
            if chain is None:
                continue
            head, _, rest = chain.partition(".")
            if head not in aliases:
                continue
            owner = ".".join(part for part in (aliases[head], rest) if part)
            if owner in modules and owner != name:
                offences.append(f"{where(module, node.lineno)}: reads private {owner}.{node.attr}")
    return offences


def stage_of(module: Module) -> str | None:
    """The stage folder a module lives in (`build` for `specc.build.model`), or None at the top."""
    parts = module.name.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and module.is_package) else None


def raw_spec_reads(modules: dict[str, Module], package: str = "specc") -> list[str]:
    offences = []
    schema = f"{package}.schema"
    for module in modules.values():
        stage = stage_of(module)
        if stage not in AFTER_LOWERING:
            continue
        allowed = {
            f"{package}.{source}": names for source, names in SCHEMA_IMPORTS_ALLOWED.get(stage, {}).items()
        }
        for node in ast.walk(module.tree):
            if isinstance(node, ast.Attribute) and node.attr in RAW_SPEC_ATTRIBUTES:
                offences.append(f"{where(module, node.lineno)}: reads .{node.attr}, the raw spec, after lowering")
        for imported in imports(module):
            source = target(imported, modules) or imported.module
            if not (source == schema or source.startswith(schema + ".")):
                continue
            if imported.name is not None and imported.name in allowed.get(imported.module, ()):
                continue
            spelled = imported.module if imported.name is None else f"{imported.module}.{imported.name}"
            offences.append(f"{where(module, imported.line)}: imports {spelled}, the document models, after lowering")
    return offences


def long_functions(modules: dict[str, Module]) -> list[str]:
    offences = []
    for module in modules.values():
        for node in ast.walk(module.tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    offences.append(f"{where(module, node.lineno)}: {node.name} is {length} lines")
    return offences


def by_place(offence: str) -> tuple[str, int, str]:
    # File, then line as a number, so line 57 comes before line 271.
    path, _, rest = offence.partition(":")
    line, _, _ = rest.partition(":")
    return (path, int(line), offence) if line.isdigit() else (offence, 0, offence)


def fail_on(offences: list[str], rule: str) -> None:
    if offences:
        listed = "\n  ".join(sorted(offences, key=by_place))
        pytest.fail(f"{len(offences)} offence(s) against '{rule}':\n  {listed}", pytrace=False)


@pytest.fixture(scope="module")
def package() -> dict[str, Module]:
    return load_package(PACKAGE)


def test_no_import_cycles(package):
    fail_on(import_cycles(package), "no import cycles inside specc/")


def test_no_private_names_across_modules(package):
    fail_on(private_imports(package), "a private name is used only in the module that defines it")


def test_nothing_after_lowering_reads_the_raw_spec(package):
    fail_on(raw_spec_reads(package), "build/, emit/, run/ and data/ read the IR, never the spec")


def test_no_function_over_80_lines(package):
    fail_on(long_functions(package), f"no function over {MAX_FUNCTION_LINES} lines")


def write_package(root: Path, files: dict[str, str]) -> dict[str, Module]:
    for relative, text in files.items():
        path = root / "specc" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return load_package(root / "specc")


def test_the_checks_find_offences_in_a_fake_package(tmp_path):
    long_body = "".join(f"    x{i} = {i}\n" for i in range(80))
    modules = write_package(
        tmp_path,
        {
            "__init__.py": "",
            # A lazy import inside a function still closes the cycle.
            "first.py": "from specc.second import helper\n",
            "second.py": "def helper():\n    from specc import first\n",
            # A package importing its own submodules, which import each other's modules, is no cycle.
            "stage/__init__.py": "from specc.stage.a import run\n",
            "stage/a.py": "from specc.stage.b import step\n\ndef run():\n    return step()\n",
            "stage/b.py": "def step():\n    return 1\n",
            "private.py": "from specc.second import _hidden\nimport specc.second\nspecc.second._other\n",
            "relative.py": "from .second import _relative\n",
            "long.py": f"def long():\n{long_body}",
            "short.py": f"def short():\n{long_body[: long_body.rindex('    x79')]}",
            "build/__init__.py": "",
            "build/model.py": "def build(spec):\n    return spec.resolved\n",
            "emit/script.py": "from specc.schema.sections import Model\n",
            "data/load.py": (
                "from specc.schema.data import KERAS_DATASETS\n"
                "from specc.schema.data import DataSection\n"
                "def load(spec):\n    return spec.document\n"
            ),
            "lower/graph.py": "def lower(spec):\n    return spec.resolved\n",
            "schema/__init__.py": "",
            "schema/data.py": "KERAS_DATASETS = ()\nclass DataSection: ...\n",
            "schema/sections.py": "class Model: ...\n",
        },
    )

    cycles = import_cycles(modules)
    assert len(cycles) == 1 and "specc.first, specc.second" in cycles[0], cycles
    assert "first.py:1" in cycles[0] and "second.py:2" in cycles[0], cycles

    private = sorted(private_imports(modules))
    assert len(private) == 3, private
    assert "private.py:1: imports private _hidden" in "\n".join(private)
    assert "private.py:3: reads private specc.second._other" in "\n".join(private)
    assert "relative.py:1: imports private _relative" in "\n".join(private)

    reads = "\n".join(raw_spec_reads(modules))
    assert "build/model.py:2: reads .resolved" in reads
    assert "data/load.py:4: reads .document" in reads
    assert "emit/script.py:1: imports specc.schema.sections.Model" in reads
    assert "data/load.py:2: imports specc.schema.data.DataSection" in reads
    assert "KERAS_DATASETS" not in reads and "lower/" not in reads, reads

    long = long_functions(modules)
    assert len(long) == 1 and "long.py:1: long is 81 lines" in long[0], long
