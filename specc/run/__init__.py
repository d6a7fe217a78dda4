"""Training runs around the build backend: the run folder, training, callbacks, distribution, workers.

    train.py       specc.train: data checked, model built, fit, evaluated, written into a run folder
    folder.py      the run folder: its files, resume, history, curves
    distribute.py  train.distribution: tf.distribute strategies, and the multi-worker fit repair
    workers.py     `specc train --workers N`: N local workers with their TF_CONFIG
"""

from specc.run.train import TrainingInterrupted, TrainResult, train

__all__ = ["TrainResult", "TrainingInterrupted", "train"]
