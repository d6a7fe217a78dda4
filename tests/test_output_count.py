"""Layers of several outputs, known at validation: specc's count against Keras calling the layer.

`LSTM: {return_state: true}` gives the output and its two states; a reference to it needs an index
(`encoder[1]`), and an index it has. Validation tells from the arguments alone; Keras is the oracle here.
"""

from __future__ import annotations

import textwrap

import pytest

import specc

import keras  # noqa: E402  (tests/conftest.py sets KERAS_BACKEND=tensorflow first)

CASES = {
    "LSTM": ("{LSTM: {units: 2, return_state: true, name: multi}}", lambda x: keras.layers.LSTM(2, return_state=True)(x)),
    "GRU": ("{GRU: {units: 2, return_state: true, name: multi}}", lambda x: keras.layers.GRU(2, return_state=True)(x)),
    "SimpleRNN": ("{SimpleRNN: {units: 2, return_state: true, name: multi}}",
                  lambda x: keras.layers.SimpleRNN(2, return_state=True)(x)),
    "Bidirectional LSTM": ("{Bidirectional: {layer: {LSTM: {units: 2, return_state: true}}, name: multi}}",
                           lambda x: keras.layers.Bidirectional(keras.layers.LSTM(2, return_state=True))(x)),
    "Bidirectional GRU": ("{Bidirectional: {layer: {GRU: {units: 2, return_state: true}}, name: multi}}",
                          lambda x: keras.layers.Bidirectional(keras.layers.GRU(2, return_state=True))(x)),
    "MultiHeadAttention": ("{MultiHeadAttention: {num_heads: 1, key_dim: 2, inputs: {query: x, value: x}, "
                           "call: {return_attention_scores: true}, name: multi}}",
                           lambda x: keras.layers.MultiHeadAttention(1, 2)(x, x, return_attention_scores=True)),
    "Attention": ("{Attention: {inputs: [x, x], call: {return_attention_scores: true}, name: multi}}",
                  lambda x: keras.layers.Attention()([x, x], return_attention_scores=True)),
}


def spec_text(item: str, reference: str) -> str:
    return textwrap.dedent(f"""\
        specc: 1
        name: outputs
        model:
          inputs: {{x: {{shape: [5, 3]}}}}
          layers:
            - {item}
          outputs: ["{reference}"]
        """)


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_the_count_of_outputs_is_keras_s(tmp_path, case):
    item, make = CASES[case]
    count = len(make(keras.Input((5, 3))))  # Keras's own answer
    path = tmp_path / "spec.yaml"
    path.write_text(spec_text(item, f"multi[{count - 1}]"))
    specc.load(path)  # the last output exists
    for reference in ("multi", f"multi[{count}]"):
        path.write_text(spec_text(item, reference))
        with pytest.raises(specc.SpecError) as caught:
            specc.load(path)
        assert [d.code for d in caught.value.diagnostics] == ["G112"]
        assert f"'multi' gives {count} outputs" in str(caught.value)
