"""Stage 2's structure: the sections of a spec as pydantic models.

These models check the skeleton of a spec: which sections and keys exist and
what type each has. Keras objects inside it (layers, optimizers, losses, ...)
are typed loosely here, as "a string or a one-key mapping", and checked
against the Keras API catalog by `specc.catalog.check`, which knows every
class and argument. Nothing here imports Keras, NumPy or anything of the runtime.

    base.py      the base model (`extra="forbid"`) and the shared types
    data.py      the data: section
    sections.py  model, compile, train (and train.distribution), and SpecDocument
    jsonschema.py  the JSON Schema for editors (imported only by `specc schema`)
"""

from specc.schema.base import KIND_PLACEHOLDER, REQUIRED, Section
from specc.schema.data import DataSection
from specc.schema.sections import (Block, CompileSection, InputSpec, ModelSection, MultiWorkerMirrored, Mirrored, OneDevice,
                                   Phase, SpecDocument, TopLayers, TrainSection)

__all__ = ["KIND_PLACEHOLDER", "REQUIRED", "Block", "CompileSection", "DataSection", "InputSpec", "Mirrored", "ModelSection",
           "MultiWorkerMirrored", "OneDevice", "Phase", "Section", "SpecDocument", "TopLayers", "TrainSection"]
