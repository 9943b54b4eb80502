"""PGD adversarial training (Madry et al. 2018); with a source, adversarial fine-tuning."""

from __future__ import annotations

import torch.nn.functional as F

from benchmark.attacks import PGD
from benchmark.strategies.base import Strategy, register_strategy

ADV_FIELDS = ("eps", "attack_steps", "attack_step_size")


def training_pgd(strategy: Strategy, seed: int) -> PGD:
    r = strategy.recipe
    steps = r.attack_steps
    return PGD("train-pgd", strategy.norm, strategy.eps, seed=seed, steps=steps,
               step_size=r.attack_step_size or 2.5 * strategy.eps / steps, restarts=1, random_start=True,
               loss="ce", return_last=True)


@register_strategy("pgd_at")
class PGDAT(Strategy):
    source = "optional"
    fields = ADV_FIELDS
    adversarial = True
    pgd_steps_per_batch = True

    def train_batch(self, run, batch):
        attack = training_pgd(self, run.seed)
        x_adv = attack(run.model, batch.x, batch.y, batch.index)
        run.model.train()
        run.meter.add(batch.x.shape[0], forward=attack.steps, backward=attack.steps)
        logits = run.forward(x_adv)
        run.meter.add(batch.x.shape[0])
        loss = F.cross_entropy(logits, batch.y)
        run.step(loss)
        return loss, logits

    def describe(self, entry) -> str:
        kind = "adv. fine-tune" if entry.source else "from scratch"
        return f"PGD-{self.recipe.attack_steps} AT ({kind})"
