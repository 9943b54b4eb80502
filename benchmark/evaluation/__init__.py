"""Evaluation: protocols, the attack battery, the false-robustness guards, and entry evaluation."""

from benchmark.evaluation.battery import BatteryOptions, accuracy, check_inputs, predict, run_battery
from benchmark.evaluation.entry import (EvalOptions, EvalResult, Locations, evaluate_entry, evaluate_model,
                                        evaluation_data, summary_rows)
from benchmark.evaluation.protocol import Protocol, available_protocols, load_protocol, parse_protocol

__all__ = ["BatteryOptions", "EvalOptions", "EvalResult", "Locations", "Protocol", "accuracy", "available_protocols",
           "check_inputs", "evaluate_entry", "evaluate_model", "evaluation_data", "load_protocol", "parse_protocol",
           "predict", "run_battery", "summary_rows"]
