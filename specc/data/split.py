"""`data.split`: validation and test sets carved, seeded, from what the source lacks.

A source with one set (builtin, npz, csv, images) gives both fractions of the
whole; a source with its own test set (the keras datasets) keeps that and only
gets validation carved from its training set.
"""

from __future__ import annotations

import numpy as np

from specc.codes import Code
from specc.data.locate import Locator

SPLIT = ("data", "split")


def carve(train, own_test, validation: float, test: float, seed: int | None, locate: Locator):
    from specc.data.arrays import Splits

    n = len(train)
    n_test = 0 if own_test is not None else round(n * test)
    n_val = round(n * validation)
    for key, fraction, count in (("test", test, n_test), ("validation", validation, n_val)):
        if fraction > 0 and count == 0 and not (key == "test" and own_test is not None):
            raise locate.error(Code.SPLIT, SPLIT + (key,), f"{fraction} of {n} samples is less than one sample: "
                               "give a larger fraction or more data", where="data.split")
    if n - n_test - n_val < 1:
        raise locate.error(Code.SPLIT, SPLIT, f"{n} samples leave none to train on after the validation and test sets ({n_val} and {n_test})")
    if not n_test and not n_val:
        return Splits(train, None, own_test)
    order = np.random.default_rng(seed).permutation(n)
    test_index, val_index, train_index = order[:n_test], order[n_test:n_test + n_val], order[n_test + n_val:]
    # Each part keeps the source's order; shuffling for training happens in the input pipeline.
    def pick(index: np.ndarray):
        return train.take(np.sort(index))

    return Splits(pick(train_index), pick(val_index) if n_val else None, pick(test_index) if n_test else own_test)
