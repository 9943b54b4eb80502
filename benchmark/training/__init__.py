"""Training pipelines that produce every zoo entry, and hyperparameter tuning on validation data."""

from benchmark.training.runner import TrainOptions, is_trained, train_entry

__all__ = ["TrainOptions", "is_trained", "train_entry"]
