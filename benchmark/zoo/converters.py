"""Key conversions from published checkpoints to this benchmark's `TransferModel` layout,
registered by name and named by an entry's `weights[].convert`."""

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


@CONVERTERS.register("madrylab_resnet")
def madrylab_resnet(state: dict) -> dict:
    """Madry lab's `robustness` checkpoints (Salman et al. 2020; state under 'model'): the classifier
    is under `module.model.`; the attacker's copy and the normalizer are dropped (the entry's
    normalization says the same statistics)."""
    kept = {k[len("module.model."):]: v for k, v in state.items() if k.startswith("module.model.")}
    return torchvision_resnet(kept)


@CONVERTERS.register("robustbench_wrn")
def robustbench_wrn(state: dict) -> dict:
    """RobustBench's WideResNet (TRADES layout): conv1, block{1,2,3}.layer.{i}, bn1, fc; `sub_block1`
    is unused in its forward pass and dropped. As RobustBench's own loader, it unwraps
    `state_dict` and removes `module.` and `model.` from the keys."""
    if "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    state = {k.replace("module.", "").replace("model.", ""): v for k, v in state.items()}
    units = sorted({int(m.group(1)) for k in state if (m := re.match(r"block1\.layer\.(\d+)\.", k))})
    n = len(units)
    out = {}
    for key, value in state.items():
        if key.startswith("sub_block1.") or key.endswith("num_batches_tracked") and "sub_block" in key:
            continue
        m = re.match(r"block(\d)\.layer\.(\d+)\.(.*)$", key)
        if m:
            unit = 1 + (int(m.group(1)) - 1) * n + int(m.group(2))
            key = f"blocks.{unit}.{m.group(3).replace('convShortcut', 'shortcut')}"
        elif key.startswith("conv1."):
            key = "blocks.0." + key[len("conv1."):]
        elif key.startswith("bn1."):
            key = f"blocks.{1 + 3 * n}.bn." + key[len("bn1."):]
        elif key.startswith("fc."):
            key = "head." + key[len("fc."):]
        out[key] = value
    return out


def strip_module_prefix(state: dict) -> dict:
    return {k[len("module."):] if k.startswith("module.") else k: v for k, v in state.items()}


CONVERTERS.register("strip_module")(strip_module_prefix)

__all__ = ["CONVERTERS", "Converter"]
