"""specc's validator against Keras itself, on the fixed CI sample of tests/differential.py.

A few hundred cases across every family (the classes in `SAMPLE_CLASSES`, a share of each one's argument
probes picked by a hash of the case's id), each judged by `specc validate` and by Keras making and using
the object. What this holds specc to:

- nothing specc accepts ends in a traceback: where Keras refuses a spec specc passed, specc's build, or
  else `specc train` on the spec with a small data file, stops with a located error (file:line:col),
  never a Python traceback;
- specc refuses nothing Keras accepts, but for the README's deliberate exceptions: a value whose YAML type
  is not the catalog type of its argument (`deliberate_category`: boolean, integer, string, list, null,
  int64);
- the validator itself never crashes, and the harness probes every sampled class.

Cases where specc builds and trains what Keras refused in the harness's own use ("specc runs it") are
no failure: Keras's refusal there came from a usage specc's training does not make.

`.venv/bin/python tests/differential.py --show 20` runs the same sample and prints the cases.
"""

from __future__ import annotations

import json

import pytest

from differential import FAMILIES, category, deliberate_category, examples, run, sample_cases, token

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def results() -> list[dict]:
    return run(sample_cases())


def listing(failures: list[dict]) -> str:
    return f"{len(failures)} cases:" + "".join(
        f"\n- {r['id']}\n    specc: {r['specc_message'] or 'accepts'}\n    keras: {r['keras'] or 'accepts'}"
        + (f"\n    build: {r['build']}" if r["build"] else "") for r in failures)


def test_the_sample_probes_every_family(results):
    assert {r["family"] for r in results} == set(FAMILIES)
    unprobed = sorted({r["cls"] for r in results if r.get("not_probed")})
    assert not unprobed, f"the harness found no base Keras takes for {unprobed}"
    refused = [r for r in results if category(r) == "not_probed" and not r.get("not_probed")]
    assert not refused, "specc refused the harness's own training data: " + listing(refused)


def test_nothing_specc_accepts_ends_in_a_traceback(results):
    failures = [r for r in results if category(r) == "traceback"]
    assert not failures, "specc accepts these, Keras refuses them, and the user gets a traceback: " + listing(failures)


def test_specc_refuses_only_what_keras_refuses(results):
    failures = [r for r in results if category(r) == "other"]
    assert not failures, "specc refuses these and Keras takes them (no deliberate refusal): " + listing(failures)


def test_the_validator_never_crashes(results):
    failures = [r for r in results if category(r) == "validator_crash"]
    assert not failures, "specc validate raised an exception other than SpecError: " + listing(failures)


def case(family: str, cls: str, arg: str, value) -> dict:
    return {"family": family, "cls": cls, "arg": arg, "value": token(value)}


@pytest.mark.parametrize("family, cls, arg, value, expected", [
    ("layer", "Dense", "use_bias", 1, "boolean"),  # bool
    ("layer", "Dense", "use_bias", 0, "boolean"),
    ("layer", "Dense", "use_bias", "true", "string"),
    ("layer", "Dense", "use_bias", [1], "list"),
    ("layer", "Dense", "use_bias", None, "null"),
    ("layer", "Dense", "use_bias", True, None),
    ("layer", "Dense", "units", True, "boolean"),  # int
    ("layer", "Dense", "units", 2.0, "integer"),
    ("layer", "Dense", "units", 1.5, "integer"),
    ("layer", "Dense", "units", "2", "string"),
    ("layer", "Dense", "units", [2], "list"),
    ("layer", "Dense", "units", 2**63, "int64"),
    ("layer", "Dense", "units", -(2**63) - 1, "int64"),
    ("layer", "Dense", "units", 2**63 - 1, None),
    ("layer", "Dense", "units", 0, None),
    ("layer", "Dropout", "rate", True, "boolean"),  # float
    ("layer", "Dropout", "rate", "0.5", "string"),
    ("layer", "Dropout", "rate", 2, None),
    ("layer", "Dropout", "rate", 1e300, "float32"),  # past float32: inf to Keras
    ("layer", "Dropout", "rate", 3e38, None),
    ("layer", "Dropout", "rate", float("inf"), None),
    ("optimizer", "Ftrl", "initial_accumulator_value", float("nan"), "nan"),
    ("layer", "Dropout", "rate", 10**20, "int64"),  # any integer past int64, whatever the type
    ("layer", "Conv2D", "kernel_size", 2.5, "integer"),  # int_or_ints
    ("layer", "Conv2D", "kernel_size", [2, 2.0], "integer"),
    ("layer", "Conv2D", "kernel_size", True, "boolean"),
    ("layer", "Conv2D", "kernel_size", "2", "string"),
    ("layer", "Conv2D", "kernel_size", 10**20, "int64"),
    ("layer", "Conv2D", "kernel_size", [2, -1], None),
    ("layer", "Reshape", "target_shape", [None, 4], None),  # shape
    ("layer", "Reshape", "target_shape", [2.0], "integer"),
    ("layer", "Reshape", "target_shape", 4, "list"),  # one number where the dimensions go
    ("layer", "Reshape", "target_shape", "4", "string"),
    ("layer", "SimpleRNN", "activity_regularizer", "zzqx_nonsense", "ignored"),  # Keras drops it unchecked
    ("callback", "EarlyStopping", "mode", 1, "string"),  # str
    ("callback", "EarlyStopping", "mode", True, "string"),
    ("callback", "EarlyStopping", "mode", ["x"], "list"),
    ("callback", "EarlyStopping", "mode", "", None),
    ("callback", "EarlyStopping", "patience", 2**63, None),  # callbacks keep Python integers
    ("layer", "Dense", "name", None, None),  # nullable
    ("layer", "Conv1D", "kernel_constraint", {"UnitNorm": {"axis": 1.5}}, "integer"),  # nested, by its own catalog
    ("layer", "Conv1D", "kernel_constraint", {"UnitNorm": {"axis": 1}}, None),
    ("layer", "Conv1D", "kernel_constraint", "zzqx_nonsense", None),
    ("layer", "Dense", "nonexistent_argument", 1, None),
])
def test_the_deliberate_refusals_by_type(family, cls, arg, value, expected):
    """A refusal is deliberate when the value's YAML type is not its argument's catalog type (or one of the
    three documented beside DELIBERATE); nothing else is."""
    assert deliberate_category(case(family, cls, arg, value)) == expected
    if value == value:  # NaN is no value equal to itself
        assert json.loads(token(value)) == value


def test_a_base_case_or_an_empty_listing():
    assert deliberate_category({"family": "layer", "cls": "Dense", "arg": None, "value": "null"}) is None
    assert examples([], 3) == ""
