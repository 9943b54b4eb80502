"""robust-transfer-bench: robustness evaluation of adversarially robust transfer learning."""

__version__ = "0.1.0"
