"""Backend 2, emit: the IR as a standalone Keras script (Jinja templates in templates/).

    source.py  values to Python source (literal, identifier, Raw, wrapped): the leaf every emitter uses
    script.py  the script: build_model() and compile, the view the templates lay out, render_script
    blocks.py  each block as one Python function called per instance
    data.py    load_data(), make_dataset(), train() and the command line, for specs with data

Importing this package does not import Keras.
"""

from specc.emit.script import render_script, shipped_data
from specc.emit.source import identifier, literal

__all__ = ["identifier", "literal", "render_script", "shipped_data"]
