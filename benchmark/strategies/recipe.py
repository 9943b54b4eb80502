"""A training recipe, parsed into a typed object that refuses unknown or misplaced fields."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Literal

from benchmark.errors import BenchmarkError
from benchmark.spec import check_field, non_negative, parse_dataclass, positive, to_plain, unit_interval

# fields every strategy uses; the others belong to the strategies that declare them
COMMON = ("epochs", "batch_size", "lr", "momentum", "weight_decay", "nesterov", "schedule", "augment", "amp")


@dataclass(frozen=True)
class Recipe:
    epochs: int = field(metadata=check_field(positive))
    batch_size: int = field(metadata=check_field(positive))
    lr: float = field(metadata=check_field(positive))
    momentum: float = field(default=0.9, metadata=check_field(unit_interval))
    weight_decay: float = field(default=5e-4, metadata=check_field(non_negative))
    nesterov: bool = False
    schedule: Literal["cosine", "constant"] = "cosine"
    augment: bool = False             # random crop (pad 4) and horizontal flip
    amp: bool = True                  # float16 autocast on CUDA (ignored on CPU)
    # adversarial training
    eps: float | None = field(default=None, metadata=check_field(positive))  # default: the entry's eps
    attack_steps: int = field(default=7, metadata=check_field(positive))
    attack_step_size: float | None = field(default=None, metadata=check_field(positive))
    replays: int = field(default=4, metadata=check_field(positive))
    trades_beta: float = field(default=6.0, metadata=check_field(positive))
    # transfer
    k: int | None = field(default=None, metadata=check_field(positive))
    lwf_lambda: float | None = field(default=None, metadata=check_field(non_negative))
    lwf_distance: Literal["l2sq", "l1"] = "l2sq"
    warm_start_epochs: int = field(default=0, metadata=check_field(non_negative))
    # start from the source's own head too (fine-tuning on the source's own task, claim (e)); else a new head
    keep_head: bool = False
    # parameter-efficient fine-tuning (lora, lora_at): the updates' rank, their weight alpha (default: the rank,
    # a scaling of 1) and the layers they adapt in the source's blocks (the new head always trains in full)
    lora_rank: int = field(default=4, metadata=check_field(positive))
    lora_alpha: float | None = field(default=None, metadata=check_field(positive))
    lora_targets: Literal["conv", "linear", "all"] = "all"

    def to_dict(self) -> dict:
        """The fields that differ from their defaults, plus the required ones."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in ("epochs", "batch_size", "lr") or value != f.default:
                out[f.name] = to_plain(value)
        return out

    def with_values(self, **values) -> "Recipe":
        return replace(self, **values)


RECIPE_FIELDS = tuple(f.name for f in fields(Recipe))


def parse_recipe(data, strategy, where: str) -> Recipe:
    """Parse `data` for `strategy` (a Strategy class): fields it does not use are errors."""
    recipe = parse_dataclass(Recipe, data, where, prefix="recipe.")
    allowed = set(COMMON) | set(strategy.fields)
    for key in data:
        if key not in allowed:
            raise BenchmarkError(f"{where}: field 'recipe.{key}' does not apply to strategy {strategy.name!r} "
                                 f"(it uses: {', '.join(sorted(allowed))})")
    for key in strategy.required:
        if getattr(recipe, key) is None:
            raise BenchmarkError(f"{where}: field 'recipe.{key}' is required for strategy {strategy.name!r}")
    if recipe.warm_start_epochs >= recipe.epochs and "warm_start_epochs" in data:
        raise BenchmarkError(f"{where}: field 'recipe.warm_start_epochs' must be below recipe.epochs")
    return recipe
