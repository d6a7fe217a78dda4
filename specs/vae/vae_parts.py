"""The VAE example's own Keras classes, as keras.io's "Variational AutoEncoder" writes them.

`Sampling` draws z from the encoder's mean and log-variance (the reparameterization
trick); `VAE` is a keras.Model subclass of an encoder and a decoder whose train_step
adds the KL divergence to the reconstruction loss. Both are registered with Keras
under the package `vae_parts`, which is how the spec names them (`vae_parts>VAE`),
and how a saved model finds them again.
"""

import keras
import tensorflow as tf
from keras import ops


@keras.saving.register_keras_serializable(package="vae_parts")
class Sampling(keras.layers.Layer):
    """z = z_mean + exp(z_log_var / 2) * epsilon, epsilon drawn from a standard normal.

    Args:
        seed: seeds the draws, so that training repeats.
    """

    def __init__(self, seed=1337, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, z_mean, z_log_var):
        epsilon = keras.random.normal(ops.shape(z_mean), seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * epsilon

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}


@keras.saving.register_keras_serializable(package="vae_parts")
class VAE(keras.Model):
    """A variational autoencoder: the encoder gives (z_mean, z_log_var, z), the decoder an image of z.

    Its train_step minimizes the reconstruction loss plus `kl_weight` times the KL divergence
    of the encoder's distribution from a standard normal; compile it with an optimizer only.

    Args:
        encoder: a model from images to [z_mean, z_log_var, z].
        decoder: a model from z to images.
        kl_weight: the weight of the KL divergence in the loss.
    """

    def __init__(self, encoder, decoder, kl_weight=1.0, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.decoder = decoder
        self.kl_weight = kl_weight
        self.total_loss_tracker = keras.metrics.Mean(name="loss")
        self.reconstruction_loss_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.kl_loss_tracker = keras.metrics.Mean(name="kl_loss")

    @property
    def metrics(self):
        return [self.total_loss_tracker, self.reconstruction_loss_tracker, self.kl_loss_tracker]

    def call(self, inputs):
        return self.decoder(self.encoder(inputs)[2])

    def losses_of(self, images):
        z_mean, z_log_var, z = self.encoder(images)
        reconstruction = self.decoder(z)
        reconstruction_loss = ops.mean(ops.sum(keras.losses.binary_crossentropy(images, reconstruction), axis=(1, 2)))
        kl_loss = -0.5 * (1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var))
        kl_loss = ops.mean(ops.sum(kl_loss, axis=1))
        return reconstruction_loss + self.kl_weight * kl_loss, reconstruction_loss, kl_loss

    def train_step(self, data):
        images = data[0] if isinstance(data, tuple) else data  # labels, when the data has them, are not used
        with tf.GradientTape() as tape:
            total, reconstruction, kl = self.losses_of(images)
        gradients = tape.gradient(total, self.trainable_weights)
        self.optimizer.apply_gradients(zip(gradients, self.trainable_weights))
        return self.track(total, reconstruction, kl)

    def test_step(self, data):
        images = data[0] if isinstance(data, tuple) else data
        return self.track(*self.losses_of(images))

    def track(self, total, reconstruction, kl):
        self.total_loss_tracker.update_state(total)
        self.reconstruction_loss_tracker.update_state(reconstruction)
        self.kl_loss_tracker.update_state(kl)
        return {metric.name: metric.result() for metric in self.metrics}

    def get_config(self):
        return {**super().get_config(), "kl_weight": self.kl_weight,
                "encoder": keras.saving.serialize_keras_object(self.encoder),
                "decoder": keras.saving.serialize_keras_object(self.decoder)}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for part in ("encoder", "decoder"):
            config[part] = keras.saving.deserialize_keras_object(config[part])
        return cls(**config)
