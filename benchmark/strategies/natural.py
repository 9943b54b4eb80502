"""Natural (cross-entropy) training, whole or in part: from scratch, heads on frozen features,
retraining the last k blocks, and end-to-end fine-tuning."""

from __future__ import annotations

import torch.nn.functional as F

from benchmark.strategies.base import Batch, Run, Strategy, register_strategy


def natural_step(run: Run, batch: Batch, share: float = 1.0):
    logits = run.forward(batch.x)
    run.meter.add(batch.x.shape[0], forward=share, backward=share)
    loss = F.cross_entropy(logits, batch.y)
    run.step(loss)
    return loss, logits


@register_strategy("natural")
class Natural(Strategy):
    label = "natural"

    def train_batch(self, run, batch):
        return natural_step(run, batch)


@register_strategy("finetune")
class FineTune(Natural):
    """End-to-end natural fine-tuning of the source."""

    label = "natural fine-tuning"
    source = "required"


class _FrozenPrefix(Strategy):
    source = "required"
    transfer_lr = 0.05

    def train_batch(self, run, batch):
        return natural_step(run, batch, run.trained_share)


@register_strategy("linear")
class LinearHead(_FrozenPrefix):
    """A new linear head on the frozen source features (the entry's `head` says linear)."""

    label = "linear head"

    def frozen_blocks(self, model):
        return model.num_blocks


@register_strategy("mlp")
class MLPHead(LinearHead):
    """A new MLP head on the frozen source features (the entry's `head` gives its widths)."""

    label = "MLP head"


@register_strategy("retrain_last_k")
class RetrainLastK(_FrozenPrefix):
    """Re-initialize the last k blocks and retrain them (and a new head) naturally."""

    fields = ("k",)
    required = ("k",)

    def frozen_blocks(self, model):
        return model.num_blocks - self._k(model)

    def reinit_blocks(self, model):
        return list(range(model.num_blocks - self._k(model), model.num_blocks))

    def _k(self, model) -> int:
        from benchmark.errors import BenchmarkError

        k = int(self.recipe.k)
        if model.num_blocks == 1:
            raise BenchmarkError("this network is one block here (its head and features were found from its last "
                                 "linear layer): retraining its last blocks needs a layout registered for its family "
                                 "(@register_layout in a plugin, docs/extending.md)")
        if not 1 <= k <= model.num_blocks:
            raise BenchmarkError(f"recipe.k must be in [1, {model.num_blocks}] for this architecture, got {k}")
        return k

    def describe(self, entry) -> str:
        return f"retrain last {self.recipe.k}"


@register_strategy("external")
class External(Strategy):
    """Weights published elsewhere (a robust source from the literature): nothing to train here."""

    label = "published elsewhere"

    def train_batch(self, run, batch):
        raise NotImplementedError
