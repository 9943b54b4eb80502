"""DeepFool (Moosavi-Dezfooli et al.), batched, for L2 and Linf.

torchattacks' DeepFool loops over single images with a full Jacobian and supports L2
only; this one steps a whole batch at once over the top candidate classes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from benchmark.attacks.base import Attack, register_attack
from benchmark.spec import check_field, non_negative, positive


@register_attack("deepfool")
class DeepFool(Attack):
    minimal_norm = True

    @dataclass(frozen=True)
    class Params:
        steps: int = field(default=50, metadata=check_field(positive))
        overshoot: float = field(default=0.02, metadata=check_field(non_negative))
        candidates: int = field(default=10, metadata=check_field(lambda v: None if v >= 2 else "must be 2 or more"))

    def perturb(self, model, x, y, index):
        with torch.no_grad():
            logits0 = model(x)
        k = min(self.candidates, logits0.shape[1])
        # candidate classes: the true class first, then the most likely others
        others = logits0.scatter(1, y[:, None], float("-inf")).topk(k - 1, dim=1).indices
        cand = torch.cat([y[:, None], others], 1)
        r_total = torch.zeros_like(x)
        x_adv = x.clone()
        active = torch.ones(x.shape[0], dtype=torch.bool, device=x.device)
        for _ in range(self.steps):
            idx = torch.nonzero(active).flatten()
            if idx.numel() == 0:
                break
            xi = x_adv[idx].clone().requires_grad_(True)
            logits = model(xi)
            still = logits.argmax(1) == y[idx]
            if not still.any():
                active[idx] = False
                break
            c = cand[idx]
            z = logits.gather(1, c)  # (b, k): true class first
            grads = [torch.autograd.grad(z[:, j].sum(), xi, retain_graph=j < k - 1)[0] for j in range(k)]
            g = torch.stack(grads, 1)  # (b, k, ...)
            w = (g[:, 1:] - g[:, :1]).flatten(2)  # (b, k-1, d)
            f = (z[:, 1:] - z[:, :1]).detach()  # (b, k-1), negative while correctly classified
            dual = 1 if self.norm == "Linf" else 2
            wn = w.norm(p=dual, dim=2).clamp_min(1e-12)
            dist = f.abs() / wn
            best = dist.argmin(1)
            wb = w[torch.arange(w.shape[0]), best]
            fb = f.abs()[torch.arange(w.shape[0]), best] + 1e-4
            wnb = wn[torch.arange(w.shape[0]), best]
            if self.norm == "Linf":
                r = (fb / wnb)[:, None] * wb.sign()
            else:
                r = (fb / wnb**2)[:, None] * wb
            r = r.view_as(xi) * still.view(-1, *[1] * (x.dim() - 1))
            with torch.no_grad():
                r_total[idx] += r
                x_adv[idx] = (x[idx] + (1 + self.overshoot) * r_total[idx]).clamp(0, 1)
            active[idx[~still]] = False
        return x_adv
