"""Training pipelines that produce every zoo entry."""

from benchmark.training.runner import is_trained, train_entry

__all__ = ["is_trained", "train_entry"]
