"""`specc import` on every keras.applications model: whether it round-trips, and how readable the spec is.

    .venv/bin/python bench/imports.py             # all 40 (several minutes)
    .venv/bin/python bench/imports.py ResNet50    # some

For each model, built with weights=None and its default arguments: the import's result
(exact: the spec builds the same get_config(), which the importer checks itself; or the
reason it is refused), the spec's line count against the size of Keras's own config as
JSON, and the time taken (building the application aside). Reported, not asserted.
"""

from __future__ import annotations

import json
import os
import sys
import time

import yaml

os.environ.setdefault("KERAS_BACKEND", "tensorflow")


def main(names: list[str]) -> int:
    import keras

    from specc.importer import ImportRefused, import_model

    names = names or sorted(n for n in dir(keras.applications) if n[:1].isupper())
    print("| model | import | spec lines | blocks (instances) | config JSON | time |")
    print("|---|---|---:|---:|---:|---:|")
    exact = 0
    for name in names:
        model = getattr(keras.applications, name)(weights=None)
        size = len(json.dumps(model.get_config()))
        start = time.perf_counter()
        try:
            text = import_model(model)
            spec = yaml.safe_load(text)["model"]
            blocks = spec.get("blocks", {})
            instances = sum(1 for entry in spec["layers"] if next(iter(entry)) in blocks)
            result, lines = "exact", str(len(text.splitlines()))
            if text.startswith("# specc import: written without blocks"):
                result = "exact, no blocks: " + text.splitlines()[0].split(": ", 2)[-1][:80]
            found = f"{len(blocks)} ({instances})" if blocks else "0"
            exact += 1
        except ImportRefused as err:
            result, lines, found = f"refused: {str(err)[:90]}", "-", "-"
        print(f"| {name} | {result} | {lines} | {found} | {size / 1024:,.0f} KB | {time.perf_counter() - start:.1f} s |",
              flush=True)
        keras.backend.clear_session()
    print(f"\n{exact} of {len(names)} exact")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
