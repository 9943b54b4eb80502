"""Key conversions from published checkpoints to this benchmark's `TransferModel` layout, registered by
name and named by an entry's `weights[].convert`: generic ones only. A published model a provider loads
(RobustBench, timm, the Hugging Face Hub; benchmark.sources) needs none: the provider's own loader reads
its checkpoint and the family's layout wraps the network."""

from __future__ import annotations

import re
from typing import Callable

from benchmark.registry import Registry

Converter = Callable[[dict], dict]
CONVERTERS: Registry[Converter] = Registry("weights conversion")


def _rename(state: dict, rules: list[tuple[str, str]], drop: str | None = None) -> dict:
    out = {}
    for key, value in state.items():
        if drop and re.search(drop, key):
            continue
        for pattern, replacement in rules:
            key = re.sub(pattern, replacement, key)
        out[key] = value
    return out


RESNET_RULES = [(r"^conv1\.", "blocks.0.0."), (r"^bn1\.", "blocks.0.1."), (r"^layer(\d)\.", r"blocks.\1."),
                (r"^fc\.", "head.")]


@CONVERTERS.register("torchvision_resnet")
def torchvision_resnet(state: dict) -> dict:
    """A torchvision (or timm) ResNet state dict onto the `resnet*` adapters."""
    return _rename(state, RESNET_RULES)


def strip_module_prefix(state: dict) -> dict:
    return {k[len("module."):] if k.startswith("module.") else k: v for k, v in state.items()}


CONVERTERS.register("strip_module")(strip_module_prefix)

__all__ = ["CONVERTERS", "Converter"]
