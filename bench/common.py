"""What the benchmark scripts share: how they describe the software they measured."""

from __future__ import annotations

import platform
from importlib import metadata


def versions(distributions: tuple[str, ...] = ("keras", "tensorflow-cpu", "pydantic", "pyyaml")) -> str:
    """'specc 0.1.0, Python 3.11.7, keras 3.15.1, ...' for a results table's header."""
    found = []
    for dist in distributions:
        try:
            found.append(f"{dist} {metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            found.append(f"{dist} (not installed)")
    import specc

    return f"specc {specc.__version__}, Python {platform.python_version()}, " + ", ".join(found)
