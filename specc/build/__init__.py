"""Backend 1, build: the IR as real Keras objects (a Sequential or functional model, compiled).

    model.py  build_model: layers created and called in the IR's order, shape errors located in the spec
    keras.py  importing Keras, Keras objects at catalog paths, Keras's messages without their decorations
"""

from specc.build.keras import import_keras, keras_message, realize
from specc.build.model import build_model, compile_model

__all__ = ["build_model", "compile_model", "import_keras", "keras_message", "realize"]
