"""Stage 1, source: a spec file (and the files it extends) as plain data with positions.

    yaml_reader.py  safe YAML 1.2 with the line and column of every node, limits on size and depth
    files.py        files, `extends` chains, the SourceMap of where each value was written
    overrides.py    `--set KEY=VALUE`, located on the command line
"""

from specc.source.overrides import apply_overrides, parse_override
from specc.source.files import Source, SourceMap, deep_merge, load_source, read_file

__all__ = ["Source", "SourceMap", "apply_overrides", "deep_merge", "load_source", "parse_override", "read_file"]
