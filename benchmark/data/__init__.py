"""Datasets (registered loaders), tasks (data files) and deterministic subsets."""

from benchmark.data.datasets import DATASETS, ImageDataset, load_dataset, register_dataset
from benchmark.data.subsets import eval_subset, hash_order, split_validation, stratified_subset, training_subset
from benchmark.data.tasks import Task, available_tasks, get_task, load_split

__all__ = [
    "DATASETS", "ImageDataset", "Task", "available_tasks", "eval_subset", "get_task", "hash_order", "load_dataset",
    "load_split", "register_dataset", "split_validation", "stratified_subset", "training_subset",
]
