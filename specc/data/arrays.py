"""The data as NumPy arrays keyed by model input and output name, and its train/validation/test split."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np


@dataclass
class Arrays:
    """NumPy data after transforms, before tf.data (first axis = samples)."""

    x: dict[str, np.ndarray]  # model input name -> array
    y: dict[str, np.ndarray]  # model output name -> array

    def __len__(self) -> int:
        return len(next(iter(self.x.values())))

    def take(self, index: np.ndarray) -> Arrays:
        return Arrays({k: v[index] for k, v in self.x.items()}, {k: v[index] for k, v in self.y.items()})


@dataclass
class Splits:
    train: Arrays
    validation: Arrays | None
    test: Arrays | None
    classes: list[str] | None = None  # what each class index of the labels stands for, where the source names them
