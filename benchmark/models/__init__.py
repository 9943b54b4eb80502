"""Architectures, registered where they are defined (`@register_model`), built by `create_model`.

Every architecture is a `TransferModel`: pixels in [0, 1] in, normalization inside, an
ordered list of `blocks` ending in the penultimate features, and a replaceable `head`.
"""

from __future__ import annotations

from benchmark.models.base import TransferModel, make_head
from benchmark.models.registry import MODELS, create_model, register_model

# importing the definitions registers them
from benchmark.models import adapters, small_cnn, wrn  # noqa: E402,F401

__all__ = ["MODELS", "TransferModel", "create_model", "make_head", "register_model"]
