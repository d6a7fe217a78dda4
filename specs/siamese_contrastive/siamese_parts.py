"""The siamese example's own loss, as keras.io's "Image similarity estimation using a Siamese
Network with a contrastive loss" writes it, registered with Keras so that a spec names it
`siamese_parts>ContrastiveLoss` and a saved model finds it again."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="siamese_parts")
class ContrastiveLoss(keras.losses.Loss):
    """The contrastive loss of Hadsell, Chopra and LeCun (2006), on a score in [0, 1] per pair.

    Pairs labelled 1 (the same digit) are pulled towards a score of 0; pairs labelled 0, pushed
    past `margin`, as keras.io's example labels them.

    Args:
        margin: how far apart the scores of different pairs should at least be.
    """

    def __init__(self, margin=1.0, name="contrastive_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.margin = margin

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, y_pred.dtype)
        square_prediction = ops.square(y_pred)
        margin_square = ops.square(ops.maximum(self.margin - y_pred, 0))
        return ops.mean((1 - y_true) * square_prediction + y_true * margin_square)

    def get_config(self):
        return {**super().get_config(), "margin": self.margin}
