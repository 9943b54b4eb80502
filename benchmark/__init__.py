"""robust-transfer-bench: robustness evaluation of adversarially robust transfer learning.

The Python API (see benchmark/api.py): `list_models`, `load_model`, `train`, `evaluate`,
`transfer`, `Normalized`, `EvalResult`.
"""

from benchmark._version import __version__  # noqa: F401

_API = ("EvalResult", "Normalized", "evaluate", "list_models", "load_model", "train", "transfer")


def __getattr__(name):  # the API loads torch and friends only when used
    if name in _API:
        from benchmark import api

        return getattr(api, name)
    raise AttributeError(f"module 'benchmark' has no attribute {name!r}")


__all__ = list(_API)
