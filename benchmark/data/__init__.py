"""Datasets, transfer tasks (class splits) and deterministic subsets."""

from benchmark.data.datasets import ImageDataset, load_dataset
from benchmark.data.subsets import eval_subset, hash_order, stratified_subset
from benchmark.data.tasks import TASKS, TaskSpec, load_task

__all__ = [
    "ImageDataset", "load_dataset", "eval_subset", "hash_order", "stratified_subset",
    "TASKS", "TaskSpec", "load_task",
]
