"""Learning without Forgetting (Li & Hoiem 2016) as used by Shafahi et al. 2020.

End-to-end natural fine-tuning with a penalty on the distance between the penultimate
features z(x) of the model being trained and z0(x) of the frozen robust source:
CE + lambda * d(z, z0). `lwf_distance: l1` is the authors' released code (L1 norm of the
difference, averaged over the batch; weight 0.005 there), `l2sq` the squared L2 norm of
the paper's text. With `warm_start_epochs: W`, the first W epochs train only the new head
on the frozen source features, as the authors' code does before unfreezing everything.
With `keep_head: true` the model keeps the source's own head: LwF on the source's own task
(the paper's last claim, better generalization of an adversarially trained model).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from benchmark.strategies.base import Strategy, register_strategy


def feature_distance(z: torch.Tensor, z0: torch.Tensor, kind: str) -> torch.Tensor:
    diff = (z - z0).flatten(1)
    return diff.abs().sum(1).mean() if kind == "l1" else diff.pow(2).sum(1).mean()


@register_strategy("lwf")
class LwF(Strategy):
    source = "required"
    fields = ("lwf_lambda", "lwf_distance", "warm_start_epochs", "keep_head")
    required = ("lwf_lambda",)

    def warming(self, run) -> bool:
        return run.epoch < self.recipe.warm_start_epochs

    def begin_epoch(self, run):
        warm = self.warming(run)
        for block in run.model.blocks:
            for p in block.parameters():
                p.requires_grad_(not warm)
            if warm:
                block.eval()  # the frozen body gives exactly the source's features

    def train_batch(self, run, batch):
        x, y = batch.x, batch.y
        if self.warming(run):  # the body equals the source here, so the penalty is zero
            logits = run.forward(x)
            run.meter.add(x.shape[0], forward=1, backward=run.head_share)
            loss = F.cross_entropy(logits, y)
            run.step(loss)
            return loss, logits
        with torch.no_grad():
            z0 = run.source.features(x)
        seen = {}
        hook = run.model.head.register_forward_pre_hook(lambda mod, inp: seen.__setitem__("z", inp[0]))
        try:
            logits = run.forward(x)  # the penultimate features are the head's input
        finally:
            hook.remove()
        run.meter.add(x.shape[0], forward=2, backward=1)  # the frozen source costs one more forward
        loss = F.cross_entropy(logits, y) + self.recipe.lwf_lambda * feature_distance(seen["z"], z0,
                                                                                      self.recipe.lwf_distance)
        run.step(loss)
        return loss, logits

    def describe(self, entry) -> str:
        r = self.recipe
        warm = f", head warm start {r.warm_start_epochs} ep" if r.warm_start_epochs else ""
        own = ", the source's own head" if r.keep_head else ""
        return f"lwf ({r.lwf_distance}, lambda={r.lwf_lambda:g}{warm}{own})"
