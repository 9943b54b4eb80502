"""The model zoo: entries as data (model_zoo/*.yaml and the user's own), their weights, publishing."""

from benchmark.zoo.catalog import check_seeds, dependency_order, get_entry, load_entries, suite_entries
from benchmark.zoo.entry import WeightsRef, ZooEntry, load_entry_file, parse_entry, write_entry_file
from benchmark.zoo.weights import (build_entry_model, has_weights, load_model, load_model_and_weights, resolve,
                                   trained_path, training_record_path)

__all__ = ["WeightsRef", "ZooEntry", "build_entry_model", "check_seeds", "dependency_order", "get_entry",
           "has_weights", "load_entries", "load_entry_file", "load_model", "load_model_and_weights", "parse_entry",
           "resolve", "suite_entries", "trained_path", "training_record_path", "write_entry_file"]
