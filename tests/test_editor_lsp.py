"""Editor support as a user meets it: the real yaml-language-server, driven over LSP, with schemas/specc.schema.json.

The server is the npm package pinned in tests/editor/package.json, installed by
`make editor-server` (a dependency of `make test`); without it these tests skip.
The client below speaks JSON-RPC over the server's stdio (Content-Length framing),
answers the requests a server makes of its client, and applies completions as
VS Code does: snippet placeholders filled, later lines indented like the first.
"""

from __future__ import annotations

import json
import queue
import re
import subprocess
import threading
from pathlib import Path

import pytest

from specc.errors import SpecError
from specc.pipeline import check

ROOT = Path(__file__).resolve().parent.parent
SERVER = ROOT / "tests" / "editor" / "node_modules" / ".bin" / "yaml-language-server"
SCHEMA_URI = (ROOT / "schemas" / "specc.schema.json").as_uri()
REPLY_SECONDS = 20

pytestmark = pytest.mark.skipif(not SERVER.exists(), reason=f"{SERVER.relative_to(ROOT)} is not installed: run `make editor-server` (needs npm)")

SPEC = """\
specc: 1
name: editor
model:
  layers:
    - Dense: {units: 16, activation: relu, input_shape: [8]}
    - Dense2: {units: 3}
    - Dense: {units: 2, activation: softmax}
compile:
  optimizer: adam
  loss: categorical_crossentropy
train:
  epochs: 2
"""


class LanguageClient:
    """A minimal LSP client for one yaml-language-server process."""

    def __init__(self, settings: dict):
        self.settings = settings
        self.process = subprocess.Popen([str(SERVER), "--stdio"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.DEVNULL)
        self.inbox: queue.Queue = queue.Queue()
        self.last_id = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        stream = self.process.stdout
        while True:
            headers = {}
            while (line := stream.readline().decode()) not in ("\r\n", ""):
                key, _, value = line.partition(":")
                headers[key.strip().lower()] = value.strip()
            if not headers:
                return
            self.inbox.put(json.loads(stream.read(int(headers["content-length"]))))

    def send(self, message: dict) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode()
        self.process.stdin.write(b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        self.process.stdin.flush()

    def notify(self, method: str, params: dict) -> None:
        self.send({"method": method, "params": params})

    def request(self, method: str, params: dict):
        self.last_id += 1
        sent = self.last_id
        self.send({"id": sent, "method": method, "params": params})
        return self.wait(lambda message: message.get("id") == sent and "method" not in message)["result"]

    def wait(self, wanted) -> dict:
        while True:
            message = self.inbox.get(timeout=REPLY_SECONDS)
            if "method" in message and "id" in message:  # the server asks its client something
                self._answer(message)
            elif wanted(message):
                return message

    def _answer(self, message: dict) -> None:
        result = None
        if message["method"] == "workspace/configuration":
            result = [self.settings.get(item.get("section", "")) for item in message["params"]["items"]]
        self.send({"id": message["id"], "result": result})

    def open(self, path: Path, text: str) -> list[dict]:
        """Open a document; its diagnostics."""
        uri = path.as_uri()
        self.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "yaml", "version": 1, "text": text}})
        published = self.wait(lambda m: m.get("method") == "textDocument/publishDiagnostics" and m["params"]["uri"] == uri)
        return published["params"]["diagnostics"]

    def at(self, method: str, path: Path, line: int, character: int):
        return self.request(f"textDocument/{method}", {"textDocument": {"uri": path.as_uri()},
                                                      "position": {"line": line, "character": character}})

    def close(self) -> None:
        self.request("shutdown", {})
        self.notify("exit", {})
        self.process.wait(timeout=REPLY_SECONDS)


@pytest.fixture(scope="module")
def server():
    yaml_settings = {"validate": True, "hover": True, "completion": True, "schemaStore": {"enable": False},
                     "schemas": {SCHEMA_URI: ["*.yaml"]}}
    client = LanguageClient({"yaml": yaml_settings})
    client.request("initialize", {"processId": None, "rootUri": None, "capabilities": {
        "textDocument": {"completion": {"completionItem": {"snippetSupport": True}},
                         "hover": {"contentFormat": ["markdown", "plaintext"]}},
        "workspace": {"configuration": True}}})
    client.notify("initialized", {})
    client.notify("workspace/didChangeConfiguration", {"settings": {"yaml": yaml_settings}})
    yield client
    client.close()


def position(text: str, line_text: str, word: str) -> tuple[int, int]:
    """(line, character) of `word` on the line that starts with `line_text`."""
    lines = text.splitlines()
    line = next(i for i, content in enumerate(lines) if content.startswith(line_text))
    return line, lines[line].index(word)


def test_an_unknown_layer_is_flagged_on_its_line(server, tmp_path):
    spec = tmp_path / "unknown.yaml"
    diagnostics = server.open(spec, SPEC)
    line, _ = position(SPEC, "    - Dense2", "Dense2")
    assert [d["range"]["start"]["line"] for d in diagnostics] == [line], diagnostics
    assert "Dense2" in diagnostics[0]["message"]
    spec.write_text(SPEC, encoding="utf-8")
    with pytest.raises(SpecError, match="Dense2"):  # as specc itself says
        check(spec)


@pytest.mark.parametrize("path", sorted((ROOT / "specs").glob("*.yaml")), ids=lambda p: p.stem)
def test_the_example_specs_have_no_diagnostics(server, path):
    # Opened where they are, so `# yaml-language-server: $schema=../schemas/...` resolves as for a user.
    assert server.open(path, path.read_text(encoding="utf-8")) == []


def layer_completions(server, tmp_path) -> tuple[str, Path, list[dict]]:
    text = SPEC.replace("    - Dense2: {units: 3}\n", "    - \n")
    spec = tmp_path / "complete.yaml"
    server.open(spec, text)
    line = text.splitlines().index("    - ")
    items = server.at("completion", spec, line, len("    - "))
    return text, spec, items["items"] if isinstance(items, dict) else items


def test_each_layer_is_offered_once(server, tmp_path):
    _, _, items = layer_completions(server, tmp_path)
    labels = [item["label"] for item in items]
    for layer in ("Dense", "Flatten", "Conv2D", "MobileNetV2"):
        assert labels.count(layer) == 1, (layer, sorted(label for label in labels if layer in label))
    assert not [label for label in labels if "." in label], "definition names offered as completions"


def accept(text: str, item: dict, typed: str) -> str:
    """The document after accepting `item` as VS Code does, `typed` written at each empty tab stop."""
    edit = item["textEdit"]
    start, end = edit["range"]["start"], edit["range"]["end"]
    lines = text.splitlines(keepends=True)
    indent = re.match(r"\s*", lines[start["line"]]).group()
    snippet = re.sub(r"\$\{\d+:([^}]*)\}", r"\1", edit["newText"])  # ${1:default}: keep the default
    snippet = re.sub(r"\$\{\d+\|([^,|]*)[^}]*\}", r"\1", snippet)  # ${1|a,b|}: the first choice
    if not re.search(r"\$\{?\d+\}?", snippet) and snippet.rstrip().endswith(":"):
        snippet += typed  # the server drops a final `$1`; the cursor waits there
    snippet = re.sub(r"\$\{?\d+\}?", typed, snippet)
    snippet = snippet.replace("\n", "\n" + indent)  # insertTextMode adjustIndentation, VS Code's default
    offset = sum(len(line) for line in lines[:start["line"]])
    return text[:offset + start["character"]] + snippet + text[offset + end["character"]:]


@pytest.mark.parametrize("layer, typed", [("Flatten", ""), ("Dense", "8"), ("Dropout", "0.5")])
def test_accepting_a_layer_completion_writes_a_valid_spec(server, tmp_path, layer, typed):
    text, spec, items = layer_completions(server, tmp_path)
    (item,) = [item for item in items if item["label"] == layer]
    accepted = accept(text, item, typed)
    spec.write_text(accepted, encoding="utf-8")
    try:
        check(spec)
    except SpecError as error:
        pytest.fail(f"completion {item['textEdit']['newText']!r} gives a spec specc rejects:\n{accepted}\n{error}")


def hover_text(server, path: Path, text: str, line_text: str, word: str) -> str:
    line, character = position(text, line_text, word)
    hover = server.at("hover", path, line, character + 1)
    return hover["contents"]["value"] if hover else ""


def test_hover_names_the_argument_and_class_and_shows_keras_docs(server, tmp_path):
    spec = tmp_path / "hover.yaml"
    server.open(spec, SPEC)
    units = hover_text(server, spec, SPEC, "    - Dense: {units: 16", "units")
    assert units.startswith("#### units (Dense)\n"), units
    assert "dimensionality of the output space" in units
    dense = hover_text(server, spec, SPEC, "    - Dense: {units: 16", "Dense")
    assert dense.startswith("#### Dense\n") and "densely-connected" in dense, dense


@pytest.mark.parametrize("line_text, word, heading", [
    ("    - Dense: {units: 16", "input_shape", "input\\_shape (Dense)"),
    ("  epochs", "epochs", "train.epochs"),
    ("train:", "train", "train"),
    ("  optimizer", "optimizer", "compile.optimizer"),
])
def test_hover_documents_sections_and_keys(server, tmp_path, line_text, word, heading):
    spec = tmp_path / "hover.yaml"
    server.open(spec, SPEC)
    text = hover_text(server, spec, SPEC, line_text, word)
    title, _, body = text.partition("\n\n")
    assert title == f"#### {heading}", text
    assert body and not body.startswith("Source:"), text


NEW_SYNTAX = """\
specc: 1
name: editor_v2
model:
  inputs:
    x: {shape: [4, 8]}
  layers:
    - MultiHeadAttention:
        num_heads: 2
        key_dim: 4
        inputs: {query: x, value: x}
        call:
          use_causal_mask: true
    - ops: {name: doubled, expr: "multi_head_attention * 2.0"}
"""


def completion_labels(server, path: Path, text: str, line_text: str) -> list[str]:
    line = text.splitlines().index(line_text)
    items = server.at("completion", path, line, len(line_text))
    return [item["label"] for item in (items["items"] if isinstance(items, dict) else items)]


def test_the_new_syntax_is_known_to_the_editor(server, tmp_path):
    """call:, inputs by name and ops items: no diagnostics, call()'s own arguments offered under call:, a misspelt one flagged."""
    spec = tmp_path / "v2.yaml"
    assert server.open(spec, NEW_SYNTAX) == []
    spec.write_text(NEW_SYNTAX, encoding="utf-8")
    check(spec)  # specc agrees
    text = NEW_SYNTAX.replace("          use_causal_mask: true\n", "          \n")
    assert "use_causal_mask" in completion_labels(server, spec, text, "          ")
    bad = NEW_SYNTAX.replace("use_causal_mask: true", "use_causal_masks: true")
    diagnostics = server.open(tmp_path / "v2_bad.yaml", bad)
    assert len(diagnostics) == 1 and "use_causal_masks" in diagnostics[0]["message"], diagnostics
