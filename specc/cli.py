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
import sys
from enum import IntEnum
from pathlib import Path
from typing import Sequence

from specc import __version__
from specc.errors import Diagnostic, SpecError, UnreadableSpec

SPEC_SUFFIXES = (".yaml", ".yml")
DEFAULT_SCHEMA_PATH = Path("schemas") / "specc.schema.json"


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
        return int(args.run(args))
    except UsageError as err:
        print(f"specc: error: {err}", file=sys.stderr)
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
    validate.set_defaults(run=run_validate)

    schema = commands.add_parser("schema", help="write the JSON Schema of the spec language (for editors)")
    schema.add_argument("-o", "--output", default=str(DEFAULT_SCHEMA_PATH),
                        help=f"where to write it (default: {DEFAULT_SCHEMA_PATH}; '-' for standard output)")
    schema.set_defaults(run=run_schema)
    return parser


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
            matches = sorted(p for p in path.rglob("*") if p.suffix in SPEC_SUFFIXES and p.is_file())
            if not matches:
                raise UsageError(f"no *.yaml or *.yml files under {raw}")
            found.extend(str(p) for p in matches)
        else:
            found.append(raw)
    return found


def run_validate(args: argparse.Namespace) -> Exit:
    from specc import load

    results: list[tuple[str, list[Diagnostic], bool]] = []
    for path in find_specs(args.paths):
        try:
            load(path)
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
    from specc.jsonschema import render_schema

    text = render_schema()
    if args.output == "-":
        sys.stdout.write(text)
        return Exit.OK
    try:
        write_atomic(Path(args.output), text)
    except OSError as err:
        raise UsageError(f"cannot write {args.output}: {err.strerror or err}") from None
    print(f"wrote {args.output}", file=sys.stderr)
    return Exit.OK


def write_atomic(path: Path, text: str) -> None:
    """Write through a temporary file and rename, so a reader never sees half a file."""
    import tempfile

    path = Path(os.path.realpath(path))  # write through a symlink, never replace it
    if path.exists() and not path.is_file():  # a device such as /dev/stdout: no rename possible
        path.write_text(text, encoding="utf-8")
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
        # mkstemp makes the file private (0600); give it the mode a plain write would have.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, path.stat().st_mode & 0o777 if path.exists() else 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
