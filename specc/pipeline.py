"""The compiler's stages in order: a spec file in, one frozen `Spec` (the IR) out.

    source    specc.source    the YAML with positions, `extends` merged, `--set` applied
    validate  specc.validate  structure (pydantic) and Keras objects (the catalog)
    lower     specc.lower     params, blocks, names, references, values and paths -> specc.ir

The passes run in the order of `PASSES`, each on what the ones before left in
the `Unit`; a pass whose input is missing (the structure failed, say) is
skipped, so one run reports every problem it can find. Validation and
lowering never call each other: this list is the only place that orders them.
The backends (specc.build, specc.emit, and specc.run around build) start from
what `compile_source` returns and read nothing else.
"""

from __future__ import annotations

import contextlib
import gc
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from specc.catalog import Catalog, load_catalog
from specc.codes import Code
from specc.ir import Graph, Spec
from specc.lower import sections
from specc.lower.graph import ArgumentCheck, lower_graph
from specc.lower.params import resolve_params
from specc.schema import SpecDocument
from specc.source import Source
from specc.validate.collector import Collector
from specc.validate.objects import check_compile_and_train, check_data_names, check_layer_arguments, check_model_class
from specc.validate.structure import Sections, check_structure, sound_sections


@dataclass
class Unit:
    """What the passes work on: the spec's data, and what each pass made of it."""

    source: Source
    catalog: Catalog
    report: Collector
    data: dict
    document: SpecDocument | None = None  # after `structure`, when every section is sound
    sections: Sections = field(default_factory=Sections)  # after `structure`: the sound ones, even when another is not
    graph: Graph | None = None  # after `graph`
    checks: list[ArgumentCheck] = field(default_factory=list)
    spec: Spec | None = None  # after `ir`


def _params(unit: Unit) -> None:
    unit.data = resolve_params(unit.data, unit.report)


def _structure(unit: Unit) -> None:
    unit.document = check_structure(unit.data, unit.report)
    unit.sections = sound_sections(unit.data, unit.document)


def _graph(unit: Unit) -> None:
    if unit.sections.model is not None:
        unit.graph, unit.checks = lower_graph(unit.sections.model, unit.catalog, unit.report, params=unit.sections.params)


def _layer_arguments(unit: Unit) -> None:
    check_layer_arguments(unit.checks, unit.catalog, unit.report)


def _model_class(unit: Unit) -> None:
    check_model_class(unit.sections.model, unit.graph, unit.catalog, unit.report)


def _compile_and_train(unit: Unit) -> None:
    sections = unit.sections
    check_compile_and_train(sections.compile, sections.train, unit.data, unit.graph, unit.catalog, unit.report)


def _data_names(unit: Unit) -> None:
    check_data_names(unit.sections.data, unit.graph, unit.report)


def _ir(unit: Unit) -> None:
    if unit.report.diagnostics or unit.document is None or unit.graph is None:
        return  # lowering to the IR needs a spec without problems
    unit.spec = sections.lower_spec(unit.source, unit.document, unit.graph, unit.catalog)


# The passes, in order: (name, what it does). `specc.validate` only checks; `specc.lower` only transforms,
# reporting what it cannot transform (an unknown reference, say).
PASSES: tuple[tuple[str, Callable[[Unit], None]], ...] = (
    ("params", _params),  # lower: ${params.*} everywhere but block bodies
    ("structure", _structure),  # validate: sections, keys and types (pydantic); the later passes check each sound section
    ("graph", _graph),  # lower: blocks expanded, names given, references resolved, nodes ordered
    ("layer_arguments", _layer_arguments),  # validate: every layer item's arguments against the catalog
    ("model_class", _model_class),  # validate: model.class, its parts and arguments, against the plugins' catalog
    ("compile_and_train", _compile_and_train),  # validate: optimizer, losses, metrics, callbacks; output names
    ("data_names", _data_names),  # validate: data transforms keyed by the model's inputs and outputs
    ("ir", _ir),  # lower: values described, paths made absolute, every section as IR, the canonical form
)
CHECKS = PASSES[:-1]  # everything that can find a problem: the last pass only lowers what they passed


def compile_source(source: Source, catalog: Catalog | None = None, passes=PASSES) -> Spec | None:
    """Check a loaded spec and lower it; raises SpecError listing every problem.

    With `passes=CHECKS`, only checks it (`specc validate`: the IR is not needed) and returns None.
    """
    report = Collector(source.positions)
    data = source.data
    if data is None:
        report(Code.WRONG_TYPE, (), "", "the file is empty: a spec starts with `specc: 1`")
    elif not isinstance(data, dict):
        report(Code.WRONG_TYPE, (), "", f"a spec is a mapping of sections (specc, name, model, ...); received a {_yaml_type(data)}")
    report.raise_if_any()
    unit = Unit(source, catalog or load_catalog(), report, data)
    for _, run in passes:
        run(unit)
    report.raise_if_any()
    assert unit.spec is not None or passes is not PASSES  # every pass ran without a problem
    return unit.spec


def load(path: str | os.PathLike, overrides: Sequence[str] = ()) -> Spec:
    """Read, validate and lower one spec file; raises SpecError listing every located problem."""
    with _collector_paused():
        return compile_source(_source(path, overrides))


def check(path: str | os.PathLike, overrides: Sequence[str] = ()) -> None:
    """Read and validate one spec file, as `load` does, without lowering it to the IR; raises SpecError the same."""
    with _collector_paused():
        compile_source(_source(path, overrides), passes=CHECKS)


@contextlib.contextmanager
def _collector_paused():
    """Python's cycle collector off while one spec compiles, as it was when it started.

    The stages make many small objects that live until the end and form no cycles, so the
    collector's passes find nothing: on a 10,000-layer spec they took a quarter of the time.
    (Not in specc.build: building ResNet-50 with the collector on spends 1 % of the time in it.)
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _source(path: str | os.PathLike, overrides: Sequence[str]) -> Source:
    from specc.source import apply_overrides, load_source

    source = load_source(path)
    return apply_overrides(source, list(overrides)) if overrides else source


def as_spec(spec: Spec | str | os.PathLike, overrides: Sequence[str] = ()) -> Spec:
    """A loaded spec, or the spec file loaded with `overrides` (which apply to files only)."""
    if isinstance(spec, Spec):
        if overrides:
            raise TypeError("overrides apply to a spec file: pass its path, or load it with specc.load(path, overrides)")
        return spec
    return load(spec, overrides)


def _yaml_type(value: Any) -> str:
    return {list: "list", str: "string", int: "number", float: "number", bool: "boolean"}.get(type(value), type(value).__name__)
