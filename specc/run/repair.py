"""Keras 3's Model.fit under MultiWorkerMirroredStrategy, repaired (keras-team/keras#20585).

A module of its own because generated scripts contain `repair_multi_worker_fit` as
it is here (specc.emit.runtime copies its source): it may use only `types` from
this module and TensorFlow imported inside, names a script has too.
"""

from __future__ import annotations

import types


def repair_multi_worker_fit(model, strategy) -> None:
    """Make Keras 3's fit and evaluate work under MultiWorkerMirroredStrategy with several workers.

    keras-team/keras#20585: Keras's TensorFlow trainer fails there twice.
      1. Before the first step it reduces a whole (x, y) batch across workers to learn the
         input shapes (`_maybe_symbolic_build`), which the collective reduce cannot take.
         Shapes need no reduction: this reads them from this worker's first replica.
      2. After each step it reduces the scalar logs with `reduce("MEAN", v, axis=0)`, which
         fails for scalars. The steps here return each scalar as a vector of one, which that
         reduce averages back to the scalar Keras expects.
    Only this model instance changes; without several workers it is left alone.
    """
    if not getattr(strategy.extended, "_in_multi_worker_mode", lambda: False)():
        return
    import tensorflow as tf

    def local_first_replica(value):
        if isinstance(value, tf.distribute.DistributedValues):
            return strategy.experimental_local_results(value)[0]
        return value

    def maybe_symbolic_build(self, iterator=None, data_batch=None):
        if iterator is not None:
            for _, _, distributed in iterator:
                data_batch = tf.nest.map_structure(local_first_replica, next(distributed))
                break
        with self.distribute_strategy.scope():
            self._symbolic_build(data_batch=data_batch)

    def vector(value):
        return tf.reshape(value, [1]) if value.shape.rank == 0 else value

    def as_vectors(step):
        def step_with_vector_logs(data):
            return tf.nest.map_structure(vector, step(data))

        return step_with_vector_logs

    model._maybe_symbolic_build = types.MethodType(maybe_symbolic_build, model)
    model.train_step = as_vectors(model.train_step)
    model.test_step = as_vectors(model.test_step)
