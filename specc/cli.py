"""The `specc` command line: a thin layer that reads, calls the compiler, prints and exits.

Exit codes (the same for every command):
    0  success: every spec is valid
    1  a spec is invalid (each problem printed as file:line:col: error: ...)
    2  usage error, or a file that cannot be read
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from enum import IntEnum
from pathlib import Path
from typing import Sequence

from specc import __version__
from specc.errors import Diagnostic, SpecError, UnreadableSpec

SPEC_SUFFIXES = (".yaml", ".yml")
DEFAULT_SCHEMA_PATH = Path("schemas") / "specc.schema.json"
# The modules of the `ml` extra (specc.build.keras.ML_STACK; not imported here, it is not light).
ML_STACK = ("keras", "tensorflow", "numpy")
ML_INSTALL = "pip install 'specc-keras[ml]'"
MAX_LOCAL_WORKERS = 64  # `train --workers N` runs N processes here; past that, a real cluster (TF_CONFIG)


class Exit(IntEnum):
    OK = 0
    INVALID = 1
    USAGE = 2
    INTERRUPTED = 130


class UsageError(Exception):
    """A mistake in how the command was called (not in a spec)."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # argparse already printed its message
        return Exit.OK if exit_.code == 0 else Exit.USAGE
    if not getattr(args, "command", None):
        parser.print_help(sys.stderr)
        return Exit.USAGE
    try:
        from specc.project import PluginError, add_plugins, staleness

        add_plugins(getattr(args, "plugins", []))
        stale = None if args.command == "plugins" else staleness()
        if stale:  # the catalog would judge the project's own classes by what they were
            print(f"specc: error: {stale}", file=sys.stderr)
            return Exit.USAGE
        return int(args.run(args))
    except PluginError as err:
        print(f"specc: error: {err}", file=sys.stderr)
        return Exit.USAGE
    except UsageError as err:
        print(f"specc: error: {err}", file=sys.stderr)
        return Exit.USAGE
    except ModuleNotFoundError as err:  # the base install validates and generates; the ML stack is an extra
        if (err.name or "").partition(".")[0] not in ML_STACK:
            raise
        print(f"specc: error: specc {args.command} needs Keras and TensorFlow: {ML_INSTALL}", file=sys.stderr)
        return Exit.USAGE
    except KeyboardInterrupt:
        print("specc: interrupted", file=sys.stderr)
        return Exit.INTERRUPTED


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="specc", description="Declarative model-spec compiler for Keras 3.")
    parser.add_argument("--version", action="version", version=f"specc {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    validate = commands.add_parser("validate", help="check specs and report every problem, located")
    validate.add_argument("paths", nargs="+", metavar="PATH", help="spec files, or folders searched for *.yaml / *.yml")
    validate.add_argument("--format", choices=("text", "json"), default="text", help="output format (default: text)")
    add_overrides(validate)
    validate.set_defaults(run=run_validate)

    resolve = commands.add_parser("resolve", help="print the fully resolved spec a run would use")
    resolve.add_argument("spec", metavar="SPEC")
    add_overrides(resolve)
    resolve.set_defaults(run=run_resolve)

    check = commands.add_parser("check", help="validate, then build the model symbolically (shapes), without training")
    check.add_argument("specs", nargs="+", metavar="SPEC")
    add_overrides(check)
    check.set_defaults(run=run_check)

    build = commands.add_parser("build", help="build and compile the model, print its summary, save it")
    build.add_argument("spec", metavar="SPEC")
    build.add_argument("-o", "--output", help="where to save the model (default: NAME.keras, NAME from the spec)")
    build.add_argument("--summary", action="store_true", help="print the Keras model summary")
    build.add_argument("--plot", metavar="PNG", help="draw the architecture (needs pydot and Graphviz's dot)")
    add_overrides(build)
    build.set_defaults(run=run_build)

    train = commands.add_parser("train", help="build, train and evaluate the model; write a run folder")
    train.add_argument("spec", metavar="SPEC")
    train.add_argument("--out", metavar="DIR", help="the run folder (default: runs/NAME, NAME from the spec)")
    train.add_argument("--resume", action="store_true",
                       help="continue the unfinished run in the run folder from its last completed epoch")
    train.add_argument("--workers", type=int, metavar="N",
                       help="run N workers on this machine (loopback, TF_CONFIG made for each), for trying a "
                            "multi_worker_mirrored spec before a real cluster")
    add_overrides(train)
    train.set_defaults(run=run_train)

    codegen = commands.add_parser("codegen", help="emit standalone Keras training scripts of specs")
    codegen.add_argument("specs", nargs="*", metavar="SPEC",
                         help="spec files or folders (default: the specs folder of [tool.specc] in pyproject.toml, or specs/)")
    codegen.add_argument("-o", "--output", help="with one SPEC: the file to write ('-' or absent: standard output)")
    codegen.add_argument("--out-dir", help="write NAME.py for each spec into this folder "
                                           "(default without SPEC: [tool.specc] generated, or generated/)")
    codegen.add_argument("--check", action="store_true",
                         help="write nothing; exit 1 listing the files that are missing or out of date")
    codegen.set_defaults(run=run_codegen)

    schema = commands.add_parser("schema", help="write the JSON Schema of the spec language (for editors)")
    schema.add_argument("-o", "--output", default=str(DEFAULT_SCHEMA_PATH),
                        help=f"where to write it (default: {DEFAULT_SCHEMA_PATH}; '-' for standard output)")
    schema.set_defaults(run=run_schema)

    importing = commands.add_parser("import", help="write the spec of an existing Keras model (a .keras file, a "
                                                   "keras.applications name, module:function), checked to build the same model")
    importing.add_argument("source", metavar="SOURCE", help="a .keras file, a keras.applications model such as ResNet50, "
                                                             "or module:function, your own code that returns a model")
    importing.add_argument("-o", "--output", help="the spec file to write (default: standard output)")
    importing.add_argument("--arg", dest="arguments", action="append", default=[], metavar="KEY=VALUE",
                           help="an argument of the keras.applications function (or of yours), e.g. "
                                "input_shape=[96,96,3] (VALUE is YAML; applications get weights=None unless given)")
    importing.add_argument("--weights", action="store_true",
                           help="also write the model's weights beside the spec (SPEC.weights.h5, named by model.weights), "
                                "checked to give identical outputs; needs -o")
    importing.set_defaults(run=run_import)

    plugins = commands.add_parser("plugins", help="introspect the project's own Keras classes ([tool.specc] plugins) "
                                                  "into .specc/plugins.json, which validation reads")
    plugins.set_defaults(run=run_plugins)
    for command in commands.choices.values():
        command.add_argument("--plugin", dest="plugins", action="append", default=[], metavar="MODULE",
                             help="a module of the project's own Keras classes, besides [tool.specc] plugins (repeatable)")
    return parser


def run_import(args: argparse.Namespace) -> Exit:
    import yaml

    from specc.importer import ImportRefused, import_source

    arguments = {}
    for given in args.arguments:
        key, sep, value = given.partition("=")
        if not sep or not key.isidentifier():
            raise UsageError(f"--arg takes KEY=VALUE, e.g. input_shape=[96,96,3]; received {given!r}")
        try:
            arguments[key] = yaml.safe_load(value)
        except yaml.YAMLError as err:
            raise UsageError(f"--arg {key}: {value!r} is not YAML: {err}") from None
    if args.source.endswith(".keras") and not Path(args.source).is_file():
        raise UsageError(f"no such file: {args.source}")
    weights = None
    if args.weights:
        if args.output in (None, "-"):
            raise UsageError("--weights writes the weights beside the spec: give the spec's file with -o")
        weights = Path(args.output).name.removesuffix(".yaml").removesuffix(".yml") + ".weights.h5"
    try:
        model, text = import_source(args.source, arguments, weights=weights)
    except ImportRefused as err:
        print(f"specc: cannot import {args.source}: {err}", file=sys.stderr)
        return Exit.INVALID
    except (TypeError, ValueError) as err:  # Keras refusing the application's arguments
        print(f"specc: cannot import {args.source}: Keras refuses it: {err}", file=sys.stderr)
        return Exit.INVALID
    if args.output in (None, "-"):
        sys.stdout.write(text)
    else:
        from specc.atomic import atomic_path, write_text

        if weights:  # beside the spec, before it: a spec never names weights that are not there
            target = Path(args.output).parent / weights
            with atomic_path(target, suffix=".weights.h5") as partial:  # Keras insists on the suffix
                model.save_weights(partial)
            print(f"wrote {target}", file=sys.stderr)
        write_text(Path(args.output), text)
        print(f"wrote {args.output}", file=sys.stderr)
    return Exit.OK


def run_plugins(args: argparse.Namespace) -> Exit:
    from specc.plugins import write_extension
    from specc.project import declared_plugins

    if not declared_plugins():
        raise UsageError("no plugins declared: list modules in [tool.specc] plugins in pyproject.toml, or give --plugin MODULE")
    path, extension = write_extension()
    found = [f"{name} ({kind})" for kind, classes in sorted(extension["kinds"].items()) for name in sorted(classes)]
    print(f"wrote {path}: {len(found)} registered Keras class{'es' * (len(found) != 1)} from "
          f"{', '.join(extension['plugins'])}" + (": " + ", ".join(found) if found else ""))
    return Exit.OK


def add_overrides(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override one value of the spec, e.g. train.epochs=1 (repeatable; VALUE is YAML)")


def load_or_report(path: str, overrides: Sequence[str] = ()):
    """The loaded spec, or None after printing its problems (the caller exits non-zero)."""
    from specc import load

    try:
        return load(path, overrides)
    except UnreadableSpec as err:
        print(err, file=sys.stderr)
        raise UsageError(f"cannot read {path}") from None
    except SpecError as err:
        print(err)
        return None


# -- resolve, check, build ---------------------------------------------------------


def run_resolve(args: argparse.Namespace) -> Exit:
    from specc.lower.canonical import render_resolved

    spec = load_or_report(args.spec, args.overrides)
    if spec is None:
        return Exit.INVALID
    sys.stdout.write(render_resolved(spec))
    return Exit.OK


def run_check(args: argparse.Namespace) -> Exit:
    from specc.build import build_model

    paths = find_specs(args.specs)
    failed = 0
    for path in paths:
        spec = load_or_report(path, args.overrides)
        try:
            if spec is not None:
                model = build_model(without_downloads(spec))
                if spec.data is not None:
                    check_data(spec, model)
                continue
        except SpecError as err:
            print(err)
        failed += 1
    specs = f"{len(paths)} spec{'s' if len(paths) != 1 else ''}"  # as validate counts: "1 spec valid", "2 of 7 specs invalid"
    if failed:
        print(f"{failed} of {specs} {'does' if failed == 1 else 'do'} not build", file=sys.stderr)
        return Exit.INVALID
    print(f"{specs} build{'s' if len(paths) == 1 else ''}", file=sys.stderr)
    return Exit.OK


def without_downloads(spec):
    """The spec with `weights: imagenet` on its applications set to None, for `check`, which downloads nothing.

    Keras downloads imagenet weights when it makes the application; the shapes
    do not depend on them. (The IR is rewritten here rather than given to
    build_model as a flag; a local weights file is kept: reading it downloads
    nothing, and checks it fits.)
    """
    import dataclasses

    from specc.ir import APPLICATION

    def offline(node):
        if node.kind != APPLICATION or not isinstance(node.kwargs.get("weights"), str):
            return node
        return dataclasses.replace(node, kwargs={**node.kwargs, "weights": None})

    layers = tuple(offline(node) for node in spec.graph.layers)
    if layers == spec.graph.layers:
        return spec
    return dataclasses.replace(spec, graph=dataclasses.replace(spec.graph, layers=layers))


def check_data(spec, model) -> None:
    """The spec's data against the built model, as `specc train` checks it before training: shapes only, no fit.

    A `keras:` dataset whose files are not in Keras's cache is skipped (one
    line on stderr) rather than downloaded; any other data that cannot be read
    is a located SpecError.
    """
    from specc.data import check_before_build, check_labels_against_model, keras_cache, load_arrays

    try:
        with keras_cache.no_downloads():
            splits = load_arrays(spec)
    except keras_cache.NotCached as missing:
        print(f"{spec.path}: data not checked: keras.datasets.{spec.data.source.name} is not in Keras's cache "
              f"(Keras looked for {missing.target}); `specc check` downloads nothing, `specc train` does", file=sys.stderr)
        return
    check_before_build(spec, splits)
    check_labels_against_model(spec, splits, model)


def run_build(args: argparse.Namespace) -> Exit:
    from specc.build import build_model

    if args.plot:
        missing_plot_tools()  # before the slow part
    spec = load_or_report(args.spec, args.overrides)
    if spec is None:
        return Exit.INVALID
    try:
        model = build_model(spec)
    except SpecError as err:
        print(err)
        return Exit.INVALID
    if args.summary:
        model.summary()
    output = Path(args.output or f"{spec.name}.keras")
    if output.suffix != ".keras":
        raise UsageError(f"the model file must end in .keras (Keras's format); received {output}")
    save_model_atomic(model, output)
    print(f"saved {output}", file=sys.stderr)
    if args.plot:
        import keras

        keras.utils.plot_model(model, to_file=args.plot, show_shapes=True, show_layer_names=True)
        print(f"drew {args.plot}", file=sys.stderr)
    return Exit.OK


def missing_plot_tools() -> None:
    """keras.utils.plot_model needs the pydot package and Graphviz's `dot` program."""
    import importlib.util
    import shutil

    missing = []
    if importlib.util.find_spec("pydot") is None:
        missing.append("the pydot package (pip install pydot)")
    if shutil.which("dot") is None:
        missing.append("Graphviz's dot program (Debian/Ubuntu: apt-get install graphviz)")
    if missing:
        raise UsageError("--plot needs " + " and ".join(missing))


def save_model_atomic(model, path: Path) -> None:
    """model.save through a temporary file in the same folder (Keras wants the .keras suffix), then a rename."""
    from specc.atomic import atomic_path

    with atomic_path(path) as tmp:
        model.save(tmp)


# -- train ---------------------------------------------------------------------


def run_train(args: argparse.Namespace) -> Exit:
    """`specc train`: a thin layer over `specc.train`; Ctrl-C says how to resume."""
    from specc.run.distribute import ClusterError
    from specc.run.folder import train_command
    from specc.run.train import RunFolderError, TrainingInterrupted, train
    from specc.run.workers import RESUME_COMMAND

    spec = load_or_report(args.spec, args.overrides)
    if spec is None:
        return Exit.INVALID
    if args.workers is not None:
        return run_workers(args, spec)
    try:
        result = train(spec, out=args.out, resume=args.resume)
    except SpecError as err:
        print(err)
        return Exit.INVALID
    except (RunFolderError, ClusterError) as err:
        raise UsageError(str(err)) from None
    except TrainingInterrupted as err:
        again = os.environ.get(RESUME_COMMAND) or shlex.join(train_command(args.spec, args.overrides, args.out, resume=True))
        print(f"specc: interrupted; {err.run_dir} keeps every completed epoch. Continue with --resume:\n"
              f"  {again}", file=sys.stderr)
        return Exit.INTERRUPTED
    scores = ", ".join(f"{name} {value:.4f}" for name, value in result.metrics.items())
    print(f"{result.evaluated_on}: {scores}")
    print(f"run folder: {result.run_dir}", file=sys.stderr)
    return Exit.OK


def run_workers(args: argparse.Namespace, spec) -> Exit:
    """`specc train --workers N`: N local worker processes; the run folder is chosen and checked here first."""
    from specc.run import folder as runs
    from specc.run.workers import launch

    if not 1 <= args.workers <= MAX_LOCAL_WORKERS:  # each is a process with a port of this machine
        raise UsageError(f"--workers takes a number of workers, 1 to {MAX_LOCAL_WORKERS} (received {args.workers})")
    section = spec.distribution
    if section is None or section.strategy != "multi_worker_mirrored":
        has = f"strategy {section.strategy}" if section is not None else "no train.distribution"
        raise UsageError(f"--workers runs a multi_worker_mirrored spec, and this one has {has}: add "
                         "--set train.distribution=multi_worker_mirrored, or set it in the spec")
    if os.environ.get("TF_CONFIG"):
        raise UsageError("TF_CONFIG is set: this process is already a worker of a cluster. --workers makes a "
                         "cluster on this machine; unset TF_CONFIG to use it")
    try:  # claimed and let go at once, to refuse it before any worker starts; the chief claims it for the run
        claim = (runs.claim_run_dir(Path(args.out), spec.sha256, args.resume) if args.out is not None
                 else runs.claim_default_run_dir(spec.name, spec.sha256, args.resume))
        claim.release()
        run_dir = claim.dir
    except runs.RunFolderError as err:
        raise UsageError(str(err)) from None
    return Exit(launch(args.spec, args.overrides, run_dir, args.resume, args.workers))


# -- codegen ---------------------------------------------------------------------


def project_folders() -> tuple[str, str]:
    """(specs folder, generated folder) from [tool.specc] in ./pyproject.toml, else specs/ and generated/."""
    import tomllib

    try:
        with open("pyproject.toml", "rb") as handle:
            settings = tomllib.load(handle).get("tool", {}).get("specc", {})
    except (OSError, tomllib.TOMLDecodeError):
        settings = {}
    return str(settings.get("specs", "specs")), str(settings.get("generated", "generated"))


def run_codegen(args: argparse.Namespace) -> Exit:
    from specc.atomic import write_text
    from specc.emit import render_script

    specs_folder, generated_folder = project_folders()
    paths = find_specs(args.specs or [specs_folder])
    single = len(args.specs) == 1 and not Path(args.specs[0]).is_dir() and not args.out_dir
    if args.output and not single:
        raise UsageError("-o takes exactly one SPEC; use --out-dir for several")
    out_dir = Path(args.out_dir or generated_folder)
    status, stale = Exit.OK, []  # (missing or out of date, the file), in spec order
    for path in paths:
        spec = load_or_report(path)
        if spec is None:
            status = Exit.INVALID
            continue
        to_stdout = single and args.output in (None, "-") and not args.check
        target = None if to_stdout else Path(args.output) if single and args.output else out_dir / f"{Path(path).stem}.py"
        text = render_script(spec, path, target)
        if target is None:
            sys.stdout.write(text)
            continue
        current = target.read_text(encoding="utf-8") if target.is_file() else None
        if args.check:
            if current != text:
                stale.append(("missing" if current is None else "out of date", str(target)))
        elif current != text:
            write_text(target, text)
            print(f"wrote {target}", file=sys.stderr)
        if target is not None and not args.check:
            write_shipped_data(spec, target.parent)
    for state, target in stale:
        print(f"{state}: {target}")
    if stale:
        counts = [(n, state) for state in ("out of date", "missing") if (n := sum(1 for s, _ in stale if s == state))]
        (n, state), *more = counts
        also = "".join(f" and {m} {other}" for m, other in more)
        print(f"{n} generated file{'s' if n > 1 else ''} {state}{also}: run `specc codegen`", file=sys.stderr)
        return Exit.INVALID
    return status


def write_shipped_data(spec, folder: Path) -> None:
    """Beside a generated script, the data files shipped with specc that it reads (the builtin digits),
    so that the script runs with keras, tensorflow and numpy alone; an identical file is left alone."""
    from specc.atomic import write_bytes
    from specc.emit import shipped_data

    for name, data in shipped_data(spec).items():
        path = folder / name
        if not (path.is_file() and path.read_bytes() == data):
            write_bytes(path, data)
            print(f"wrote {path} (the data the script reads)", file=sys.stderr)


# -- validate ------------------------------------------------------------------


def find_specs(paths: Sequence[str]) -> list[str]:
    """The spec files named (as typed), and those in folders searched recursively, in a stable order."""
    found: list[str] = []
    for raw in paths:
        path = Path(raw)
        try:
            is_dir, exists = path.is_dir(), path.exists()
        except (OSError, ValueError) as err:  # a name too long, a NUL byte
            raise UsageError(f"cannot use path {raw!r}: {getattr(err, 'strerror', None) or err}") from None
        if not raw or not exists:  # Path("") would mean the working folder
            raise UsageError(f"no such file or folder: {raw or repr(raw)}")
        if is_dir:
            projects = _projects_below(path)
            for project in projects:
                print(f"specc: skipped {project}: a project of its own (its pyproject.toml), whose plugins its specs "
                      "may use: run specc in it", file=sys.stderr)
            matches = sorted(p for p in path.rglob("*") if p.suffix in SPEC_SUFFIXES and p.is_file()
                             and not any(project in p.parents for project in projects))
            if not matches:
                raise UsageError(f"no *.yaml or *.yml files under {raw}")
            found.extend(str(p) for p in matches)
        else:
            found.append(raw)
    return found


def _projects_below(folder: Path) -> list[Path]:
    """The folders below `folder` with a pyproject.toml of their own: other projects, each with its own plugins."""
    return sorted({p.parent for p in folder.rglob("pyproject.toml") if p.parent != folder and p.is_file()})


def run_validate(args: argparse.Namespace) -> Exit:
    from specc.pipeline import check  # every check specc.load makes, without building the IR nothing here reads

    results: list[tuple[str, list[Diagnostic], bool]] = []
    for path in find_specs(args.paths):
        try:
            check(path, args.overrides)
            results.append((path, [], False))
        except SpecError as err:
            results.append((path, err.diagnostics, isinstance(err, UnreadableSpec)))

    if args.format == "json":
        report = [{"file": p, "valid": not diags, "errors": [d.as_json() for d in diags]} for p, diags, _ in results]
        print(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        for _, diags, _ in results:
            for diagnostic in diags:
                print(diagnostic.format())
        invalid = sum(1 for _, diags, _ in results if diags)
        errors = sum(len(diags) for _, diags, _ in results)
        total = len(results)
        if invalid:
            print(f"{invalid} of {total} spec{'s' if total != 1 else ''} invalid ({errors} error{'s' if errors != 1 else ''})", file=sys.stderr)
        else:
            print(f"{total} spec{'s' if total != 1 else ''} valid", file=sys.stderr)

    if any(unreadable for _, _, unreadable in results):
        return Exit.USAGE
    return Exit.INVALID if any(diags for _, diags, _ in results) else Exit.OK


# -- schema --------------------------------------------------------------------


def run_schema(args: argparse.Namespace) -> Exit:
    from specc.schema.jsonschema import render_schema

    text = render_schema()
    if args.output == "-":
        sys.stdout.write(text)
        return Exit.OK
    from specc.atomic import write_text

    try:
        write_text(args.output, text)
    except OSError as err:
        raise UsageError(f"cannot write {args.output}: {err.strerror or err}") from None
    print(f"wrote {args.output}", file=sys.stderr)
    return Exit.OK
