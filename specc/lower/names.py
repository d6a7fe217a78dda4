"""Keras's naming rule, for the names specc gives layers and objects that the spec leaves unnamed."""

from __future__ import annotations

import re


def to_snake_case(name: str) -> str:
    """Keras's own rule for default layer names: Conv2D -> conv2d, BatchNormalization -> batch_normalization."""
    name = re.sub(r"\W+", "", name)
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()
