"""Tests for specc.yaml_reader: data, positions, and located refusals."""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from specc.source import yaml_reader
from specc.errors import SpecError
from specc.source.yaml_reader import MAX_BYTES, MAX_DEPTH, MAX_NODES, Mark, YamlDocument, read_yaml

ROOT = Path(__file__).resolve().parents[1]
BACKENDS = ["libyaml", "pure"] if yaml.__with_libyaml__ else ["pure"]


@pytest.fixture(params=BACKENDS)
def backend(request, monkeypatch):
    """Run a test with libyaml's parser and with PyYAML's pure-Python one."""
    monkeypatch.setattr(yaml_reader, "_LIBYAML", request.param == "libyaml")
    return request.param


def read(text: str) -> YamlDocument:
    return read_yaml(textwrap.dedent(text), "t.yaml")


def errors(text: str | bytes) -> list[tuple[int, int, str]]:
    """(line, column, message) of every diagnostic; fails when nothing is refused."""
    with pytest.raises(SpecError) as caught:
        read_yaml(textwrap.dedent(text) if isinstance(text, str) else text, "t.yaml")
    result = []
    for diagnostic in caught.value.diagnostics:
        assert diagnostic.location is not None and diagnostic.location.file == "t.yaml"
        result.append((diagnostic.location.line, diagnostic.location.column, diagnostic.message))
    return result


def only_error(text: str | bytes) -> tuple[int, int, str]:
    found = errors(text)
    assert len(found) == 1, found
    return found[0]


# --- Positions -------------------------------------------------------------------


def test_block_positions(backend):
    doc = read("""\
        model:
          layers:
            - Dense:
                units: 32
            - Dropout: {rate: 0.5}
        """)
    assert doc.data == {"model": {"layers": [{"Dense": {"units": 32}}, {"Dropout": {"rate": 0.5}}]}}
    assert doc.values[()] == Mark(1, 1)
    assert doc.keys[("model",)] == Mark(1, 1)
    assert doc.values[("model",)] == Mark(2, 3)
    assert doc.keys[("model", "layers")] == Mark(2, 3)
    assert doc.values[("model", "layers")] == Mark(3, 5)
    assert doc.values[("model", "layers", 0)] == Mark(3, 7)
    assert doc.keys[("model", "layers", 0, "Dense")] == Mark(3, 7)
    assert doc.keys[("model", "layers", 0, "Dense", "units")] == Mark(4, 9)
    assert doc.values[("model", "layers", 0, "Dense", "units")] == Mark(4, 16)
    assert doc.values[("model", "layers", 1, "Dropout")] == Mark(5, 16)
    assert doc.keys[("model", "layers", 1, "Dropout", "rate")] == Mark(5, 17)
    assert doc.values[("model", "layers", 1, "Dropout", "rate")] == Mark(5, 23)


def test_flow_positions(backend):
    doc = read('{a: [1, "two", {b: null}], c: x}\n')
    assert doc.data == {"a": [1, "two", {"b": None}], "c": "x"}
    assert doc.values[("a",)] == Mark(1, 5)
    assert doc.values[("a", 0)] == Mark(1, 6)
    assert doc.values[("a", 1)] == Mark(1, 9)
    assert doc.values[("a", 2)] == Mark(1, 16)
    assert doc.keys[("a", 2, "b")] == Mark(1, 17)
    assert doc.values[("a", 2, "b")] == Mark(1, 20)
    assert doc.keys[("c",)] == Mark(1, 28)
    assert doc.filename == "t.yaml"


def test_columns_count_characters_not_bytes():
    doc = read("é: [ü, x]\n")
    assert doc.values[("é", 1)] == Mark(1, 8)


def test_value_mark_and_key_mark_fall_back():
    doc = read("a:\n  b: [1, 2]\n")
    assert doc.value_mark(("a", "b", 1)) == Mark(2, 10)
    assert doc.value_mark(("a", "b", 7, "x")) == Mark(2, 6)  # deepest recorded ancestor
    assert doc.value_mark(("nope",)) == Mark(1, 1)  # falls back to the root mapping
    assert doc.key_mark(("a", "b")) == Mark(2, 3)
    assert doc.key_mark(("a", "b", 0)) == Mark(2, 7)  # no key: the value's mark
    assert read("").value_mark(("a",)) is None


def test_utf8_bom_is_accepted():
    doc = read_yaml(b"\xef\xbb\xbfa: 1\n", "t.yaml")
    assert doc.data == {"a": 1}
    assert doc.keys[("a",)] == Mark(1, 1)
    assert read_yaml("\ufeffa: 1\n", "t.yaml").data == {"a": 1}


@pytest.mark.parametrize("text", ["", "# only a comment\n\n# another\n", "\n\n"])
def test_empty_file_is_none(text):
    doc = read_yaml(text, "t.yaml")
    assert doc.data is None and doc.values == {} and doc.keys == {}


# --- Scalars: YAML 1.2 core schema -------------------------------------------------

SCALARS = [
    ("~", None), ("null", None), ("Null", None), ("NULL", None), ("", None),
    ("true", True), ("True", True), ("TRUE", True),
    ("false", False), ("False", False), ("FALSE", False),
    ("0", 0), ("12", 12), ("-7", -7), ("+7", 7), ("012", 12), ("0o17", 15),
    ("0x1F", 31), ("0xff", 255),
    ("1.5", 1.5), ("-1.5", -1.5), ("1e-3", 0.001), ("1E3", 1000.0), ("1.", 1.0),
    (".5", 0.5), ("+.5e+2", 50.0), ("2.5e-1", 0.25),
    (".inf", math.inf), ("+.Inf", math.inf), ("-.INF", -math.inf),
    # YAML 1.1 meanings that the core schema does not have: strings.
    ("no", "no"), ("yes", "yes"), ("on", "on"), ("off", "off"), ("y", "y"), ("n", "n"),
    ("NO", "NO"), ("nULL", "nULL"), ("tRUE", "tRUE"),
    ("1:30", "1:30"), ("2024-01-01", "2024-01-01"), ("1_000", "1_000"),
    ("0b101", "0b101"), ("0O17", "0O17"), ("0X1F", "0X1F"), ("0o8", "0o8"),
    ("+.nan", "+.nan"), (".NAn", ".NAn"), ("inf", "inf"), ("nan", "nan"), ("1e", "1e"),
    ("e3", "e3"), (".", "."), ("+", "+"), ("-1-", "-1-"), ("1.2.3", "1.2.3"), ("=", "="),
    ("relu", "relu"), ("<<", "<<"),
]


@pytest.mark.parametrize(("text", "expected"), SCALARS)
def test_plain_scalars(text, expected):
    value = read(f"v: {text}\n").data["v"]
    assert type(value) is type(expected) and value == expected


@pytest.mark.parametrize("text", [".nan", ".NaN", ".NAN"])
def test_nan(text):
    assert math.isnan(read(f"v: {text}\n").data["v"])


@pytest.mark.parametrize(
    "text", ["'true'", '"12"', "'~'", '"1e3"', "''", "'null'", '"0x1F"', "|\n  12\n", ">\n  true\n"])
def test_quoted_and_block_scalars_are_strings(text):
    value = read(f"v: {text}").data["v"]
    assert isinstance(value, str)


@pytest.mark.parametrize(("text", "expected"), [
    ("!!str 12", "12"), ("!!str true", "true"), ("!!str", ""), ('!!int "12"', 12),
    ("!!int 0x10", 16), ("!!float 1", 1.0), ("!!float '1e3'", 1000.0), ("!!bool 'true'", True),
    ("!!null ~", None), ("!!null", None), ("!!map {a: 1}", {"a": 1}), ("!!seq [1]", [1]),
    ("!<tag:yaml.org,2002:int> '3'", 3), ("! 12", "12"),
])
def test_standard_tags_are_honoured(text, expected):
    value = read(f"v: {text}\n").data["v"]
    assert type(value) is type(expected) and value == expected


@pytest.mark.parametrize(("text", "message"), [
    ("!!int 1.5", "'1.5' is not a valid !!int"),
    ("!!float abc", "'abc' is not a valid !!float"),
    ("!!bool yes", "'yes' is not a valid !!bool"),
    ("!!null 0", "'0' is not a valid !!null"),
    ("!!int", "'' is not a valid !!int"),
    ("!!map x", "the YAML tag !!map cannot be used on a scalar"),
    ("!!str {a: 1}", "the YAML tag !!str cannot be used on a mapping"),
    ("!!map [1]", "the YAML tag !!map cannot be used on a sequence"),
])
def test_values_that_do_not_fit_their_tag(text, message):
    assert only_error(f"a: 1\nv: {text}\n") == (2, 4, message)


@pytest.mark.parametrize("tag", [
    "!!python/object:os.system", "!!python/name:os.system", "!custom", "!!binary",
    "!!timestamp", "!!set", "!!omap", "!!merge", "!<tag:example.com,2000:x>",
])
def test_unsupported_tags(tag):
    line, column, message = only_error(f"a: 1\nv: {tag} x\n")
    assert (line, column) == (2, 4)
    assert message.startswith("unsupported YAML tag '")


def test_unsupported_tag_on_collection_is_located():
    assert only_error("a:\n  - !!set {x: null}\n")[:2] == (2, 5)


@pytest.mark.skipif(not getattr(sys, "get_int_max_str_digits", lambda: 0)(),
                    reason="this Python converts decimal strings of any length")
def test_huge_integer_is_a_located_error():
    digits = sys.get_int_max_str_digits() + 1
    assert only_error("a: 1\nb: " + "9" * digits + "\n") == (
        2, 4, f"integer has too many digits ({digits})")


# --- Mapping keys, duplicates, merge keys ------------------------------------------


def test_keys_keep_their_type():
    doc = read("class_weight: {0: 1.5, 1: 3, 2.5: z}\nflags: {true: x, null: y, '0': s}\n")
    assert doc.data == {"class_weight": {0: 1.5, 1: 3, 2.5: "z"},
                        "flags": {True: "x", None: "y", "0": "s"}}
    assert doc.keys[("class_weight", 1)] == Mark(1, 24)


def test_keys_equal_in_python_are_duplicates():
    # 1, 1.0 and true are one dict key in Python; keeping one would lose data.
    assert only_error("w: {1: a, true: b}\n") == (1, 11, "duplicate key True (first defined at line 1)")
    assert only_error("w: {1: a, 1.0: b}\n")[2] == "duplicate key 1.0 (first defined at line 1)"


def test_duplicate_keys_are_all_reported(backend):
    found = errors("""\
        model:
          units: 3
          name: a
          units: 4
        other: {x: 1, x: 2}
        """)
    assert found == [
        (4, 3, "duplicate key 'units' (first defined at line 2)"),
        (5, 15, "duplicate key 'x' (first defined at line 5)"),
    ]


def test_duplicate_int_key():
    assert only_error("w:\n  0: 1\n  0: 2\n") == (3, 3, "duplicate key 0 (first defined at line 2)")


@pytest.mark.parametrize(("text", "kind"), [("[a]: 1\n", "a sequence"), ("{a: 1}: 2\n", "a mapping"),
                                            ("x: &s [1]\n*s : 2\n", "a sequence")])
def test_collection_keys_are_refused(text, kind):
    line, column, message = only_error(text)
    assert message == f"a mapping key must be a scalar, not {kind}"
    assert (line, column) == ((2, 1) if "*s" in text else (1, 1))


def test_merge_key():
    doc = read("""\
        base: &base {units: 8, activation: relu}
        extra: &extra {units: 99, use_bias: false}
        one:
          <<: *base
          units: 16
        two:
          units: 32
          <<: [*base, *extra]
        three: {<<: {a: 1}, b: 2}
        """)
    assert doc.data["one"] == {"units": 16, "activation": "relu"}
    # Explicit keys win wherever they stand; an earlier source wins over a later one.
    assert doc.data["two"] == {"units": 32, "activation": "relu", "use_bias": False}
    assert doc.data["three"] == {"a": 1, "b": 2}
    assert list(doc.data["one"]) == ["activation", "units"]  # merged first, as PyYAML
    assert doc.keys[("one", "units")] == Mark(5, 3)
    # Merged entries point at the `<<` line.
    assert doc.keys[("one", "activation")] == Mark(4, 3)
    assert doc.values[("one", "activation")] == Mark(4, 7)
    assert doc.data["base"] == {"units": 8, "activation": "relu"}  # sources untouched


def test_quoted_merge_key_is_an_ordinary_key():
    assert read("a: {'<<': 1}\n").data == {"a": {"<<": 1}}


@pytest.mark.parametrize(("text", "where"), [
    ("a: 1\nb:\n  <<: 3\n", (3, 7)),
    ("a: &x [1]\nb:\n  <<: *x\n", (3, 7)),
    ("a: &x {k: 1}\nb:\n  <<: [*x, 2]\n", (3, 7)),
])
def test_bad_merge_values(text, where):
    assert only_error(text) == (
        *where, "the merge key '<<' takes a mapping, an alias to one, or a list of them")


def test_two_merge_keys_are_duplicates():
    assert only_error("a: &a {x: 1}\nb:\n  <<: *a\n  <<: *a\n") == (
        4, 3, "duplicate key '<<' (first defined at line 3)")


# --- Aliases ----------------------------------------------------------------------


def test_alias_shares_the_object_and_records_its_own_mark():
    doc = read("a: &x {k: [1, 2]}\nb: *x\n")
    assert doc.data["b"] is doc.data["a"]
    assert doc.values[("b",)] == Mark(2, 4)
    assert ("b", "k") not in doc.values
    assert doc.value_mark(("b", "k", 1)) == Mark(2, 4)
    assert doc.values[("a", "k", 1)] == Mark(1, 15)


def test_anchor_redefinition_uses_the_latest():
    assert read("a: &x 1\nb: &x 2\nc: *x\n").data["c"] == 2


def test_alias_bomb_is_refused(backend):
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, 10):
        aliases = ", ".join([f"*a{level - 1}"] * 9)
        lines.append(f"a{level}: &a{level} [{aliases}]")
    # Refused while counting, before anything is expanded: were it expanded, this would not return.
    line, column, message = only_error("\n".join(lines) + "\n")
    assert message == (f"YAML alias expansion too large (more than {MAX_NODES:,} nodes): "
                       "an alias bomb?")
    assert line == 7  # level 6 expands to 5.4 million nodes


def test_undefined_alias(backend):
    assert only_error("a: 1\nb: [1, *nope]\n") == (
        2, 8, "alias '*nope' refers to no anchor defined before it")


def test_recursive_alias(backend):
    assert only_error("a: &x\n  b: *x\n") == (
        2, 6, "alias '*x' refers to a collection that contains it; "
              "recursive structures are not allowed")
    assert only_error("&s [1, *s]\n")[:2] == (1, 8)


# --- Limits and garbage -------------------------------------------------------------


def test_nesting_at_the_limit_is_accepted(backend):
    doc = read("[" * MAX_DEPTH + "]" * MAX_DEPTH)
    assert doc.data is not None


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 1200, 100_000])
def test_too_deep_flow_nesting(backend, depth):
    assert only_error("[" * depth) == (1, MAX_DEPTH + 1, f"nesting is deeper than {MAX_DEPTH} levels")


def test_too_deep_block_nesting(backend):
    text = "a: 1\nb:\n" + "".join(" " * i + "- \n" for i in range(1, 2000))
    assert only_error(text) == (MAX_DEPTH + 2, MAX_DEPTH + 1,
                                f"nesting is deeper than {MAX_DEPTH} levels")


def test_aliases_cannot_build_nesting_past_the_limit():
    deep = "[" * 40 + "]" * 40
    text = f"a: &a {deep}\nb: &b [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[*a]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]\n"
    assert only_error(text) == (2, 37, f"alias '*a' makes the nesting deeper than {MAX_DEPTH} levels")


def test_deep_nesting_does_not_crash_the_process():
    # libyaml's composer overflows the C stack here; prove our reader does not.
    script = textwrap.dedent("""\
        from specc.errors import SpecError
        from specc.source.yaml_reader import read_yaml
        try:
            read_yaml("[" * 100_000, "deep.yaml")
        except SpecError as error:
            print(error)
        """)
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"deep.yaml:1:{MAX_DEPTH + 1}: error: nesting is deeper than 64 levels"


def test_file_over_the_size_limit():
    assert only_error(b"#" * (MAX_BYTES + 1)) == (
        1, 1, f"file is {MAX_BYTES + 1:,} bytes; the limit is {MAX_BYTES:,} bytes")
    assert only_error("é" * (MAX_BYTES // 2 + 1))[:2] == (1, 1)  # counted in UTF-8 bytes


def test_binary_garbage():
    assert only_error(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR") == (
        1, 1, "file is not UTF-8 text (byte 0x89); is it a binary file?")
    assert only_error(b"\x00\x01\x02\x03")[:2] == (1, 1)
    assert "binary" in only_error(bytes(range(256)) * 4)[2]


def test_invalid_utf8_is_located():
    assert only_error(b"a: 1\nb: \xff\n") == (
        2, 4, "file is not UTF-8 text (byte 0xff); is it a binary file?")


@pytest.mark.parametrize(("text", "where", "char"), [
    ("a: 1\nb: x\x00y\n", (2, 5), "U+0000"), ("a: \x07\n", (1, 4), "U+0007"),
    ("a: \ud800\n", (1, 4), "U+D800"), ("a: \ufffe", (1, 4), "U+FFFE"),
])
def test_control_characters(text, where, char):
    assert only_error(text) == (*where, f"character {char} is not allowed in YAML; "
                                        "is this a binary file?")


@pytest.mark.parametrize("text", ["a: 1\n---\nb: 2\n", "a: 1\n...\n---\nb: 2\n", "---\na: 1\n---\n"])
def test_multiple_documents(backend, text):
    line, column, message = only_error(text)
    assert column == 1 and text.splitlines()[line - 1] == "---"
    assert message == "a spec file holds one YAML document, but a second one starts here"


def test_explicit_single_document():
    assert read("---\na: 1\n...\n").data == {"a": 1}


def test_syntax_error_is_located(backend):
    line, column, message = only_error("a: 1\nb: c: d\n")
    assert (line, column) == (2, 5)
    assert message.startswith("invalid YAML: mapping values are not allowed")


def test_syntax_error_with_context(backend):
    line, column, message = only_error("a: 1\nb: [1, 2\n")
    assert line == 3 and message.startswith("invalid YAML: ")
    assert "while parsing a flow sequence at line 2, column 4" in message


def test_syntax_error_message_format():
    with pytest.raises(SpecError) as caught:
        read_yaml("a: 1\nb: 'x\n", "specs/x.yaml")
    assert str(caught.value) == ("specs/x.yaml:3:1: error: invalid YAML: found unexpected end of "
                                 "stream (while scanning a quoted scalar at line 2, column 4)")


def test_collected_diagnostics_come_before_a_fatal_one():
    found = errors("a: 1\na: 2\nb: *nope\nc: [1\n")
    assert [f[:2] for f in found] == [(2, 1), (3, 4), (5, 1)]


def test_ten_thousand_layers_keep_their_positions():
    # How fast this is gets measured by bench/run.py, not asserted here.
    text = "model:\n  layers:\n" + "".join(
        f"    - Dense: {{units: 32, activation: relu, name: d{i}}}\n" for i in range(10_000))
    doc = read_yaml(text, "t.yaml")
    assert doc.data["model"]["layers"][9999] == {
        "Dense": {"units": 32, "activation": "relu", "name": "d9999"}}
    assert doc.keys[("model", "layers", 9999, "Dense", "name")] == Mark(10_002, 44)


# --- Property tests ---------------------------------------------------------------

YAMLISH = st.text(alphabet="&*!|>-:?[]{},#'\"% \n\t.~<=\\abcxyz019" + "é", max_size=120)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=YAMLISH, libyaml=st.booleans())
def test_any_text_returns_or_raises_spec_error(text, libyaml):
    old = yaml_reader._LIBYAML
    yaml_reader._LIBYAML = libyaml and yaml.__with_libyaml__
    try:
        read_yaml(text, "fuzz.yaml")
    except SpecError as error:
        assert error.diagnostics and all(d.message for d in error.diagnostics)
    finally:
        yaml_reader._LIBYAML = old


# Whole YAML tokens reach anchors, aliases, merges and tags far more often.
YAML_TOKENS = st.lists(st.sampled_from([
    "&a ", "&b ", "*a", "*b", "<<: ", "- ", "? ", ": ", "[", "]", "{", "}", ", ", "\n", "\n  ",
    "\n    ", "!!int ", "!!map ", "!!seq ", "!!str ", "!!set ", "!x ", "! ", "'q'", '"d"', "1", "x",
    "k: ", "---\n", "...\n", "~", " #c", "|\n  t", "0x1F", "1e3", "%YAML 1.2\n",
]), max_size=40).map("".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=YAML_TOKENS, libyaml=st.booleans())
def test_any_token_soup_returns_or_raises_spec_error(text, libyaml):
    test_any_text_returns_or_raises_spec_error.hypothesis.inner_test(text, libyaml)


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=200))
def test_any_bytes_return_or_raise_spec_error(data):
    try:
        read_yaml(data, "fuzz.yaml")
    except SpecError as error:
        assert error.diagnostics


# The YAML 1.2 core schema, written out here as the oracle for the round trip.
_CORE_NON_STRING = re.compile(
    r"~|null|Null|NULL|true|True|TRUE|false|False|FALSE|[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+"
    r"|[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN)")
_YAML11 = yaml.resolver.Resolver()


def _plain_in_11_but_not_a_string_in_12(text: str) -> bool:
    """A string that safe_dump (YAML 1.1) writes unquoted but YAML 1.2 reads otherwise.

    YAML 1.1 reads `1e3`, `0o17`, `+.5` and `.5e3` as strings, so safe_dump
    leaves them plain; the core schema makes numbers of them. That is the
    difference we mean to have, not a bug in the reader.
    """
    plain_11 = _YAML11.resolve(yaml.ScalarNode, text, (True, False)) == "tag:yaml.org,2002:str"
    return plain_11 and bool(_CORE_NON_STRING.fullmatch(text))


def _strings(data) -> list[str]:
    if isinstance(data, str):
        return [data]
    if isinstance(data, dict):
        return [s for k, v in data.items() for s in _strings(k) + _strings(v)]
    if isinstance(data, list):
        return [s for item in data for s in _strings(item)]
    return []


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None)
@given(data=JSONISH, flow=st.sampled_from([None, False, True]))
def test_safe_dump_round_trips(data, flow):
    if any(_plain_in_11_but_not_a_string_in_12(s) for s in _strings(data)):
        return  # the legitimate YAML 1.1/1.2 difference above
    text = yaml.safe_dump(data, default_flow_style=flow, sort_keys=False)
    assert read_yaml(text, "dump.yaml").data == data


@pytest.mark.parametrize("text", ["1e3", "0o17", "+.5", ".5e3"])
def test_the_round_trip_filter_only_drops_real_11_vs_12_differences(text):
    assert _plain_in_11_but_not_a_string_in_12(text)
    assert yaml.safe_dump(text) == f"{text}\n...\n"  # written plain by YAML 1.1
    assert not isinstance(read_yaml(yaml.safe_dump(text), "t.yaml").data, str)
