"""Auto-PGD (Croce & Hein, ICML 2020): APGD-CE and the targeted APGD-DLR (APGD-T) of AutoAttack.

The authors' algorithm step for step (step size 2 eps, momentum 0.75, checkpoints at which
the step size halves when the loss oscillates or stalls and the iterate restarts from the
best point) and their random stream (one generator seeded per call, a start drawn for all
examples still robust, target classes one after the other), so that on the same examples
it takes the same steps as the reference code. What differs is only the work done:

- an example leaves the batch as soon as the float32 model misclassifies its iterate (the
  reference keeps computing on it until the last step);
- the batch is cut into chunks of CHUNK_ROWS examples, which keeps the activations in the
  CPU's cache (each example's steps do not depend on the others');
- `precision: bf16` (opt-in) runs the search on a bfloat16 copy of the model, about 1.8x
  faster on CPUs with AVX512-BF16, while the float32 model decides every success; its
  steps are not the reference's, so its outcomes are not either.

An example that is never fooled gets exactly the reference's budget: `steps` gradient
steps per restart and per target class.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from benchmark.attacks.base import Attack, register_attack
from benchmark.errors import BenchmarkError
from benchmark.spec import check_field, positive

CHUNK_ROWS = 128  # examples per batch: larger batches spill the activations out of cache on CPUs
RHO = 0.75        # a checkpoint halves the step where the loss rose in at most this share of the last k steps


def dlr_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Difference of logits ratio (untargeted)."""
    z, _ = logits.sort(dim=1)
    top_is_y = logits.argmax(1) == y
    other = torch.where(top_is_y, z[:, -2], z[:, -1])
    return -(logits.gather(1, y[:, None]).squeeze(1) - other) / (z[:, -1] - z[:, -3] + 1e-12)


def dlr_targeted_loss(logits: torch.Tensor, y: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Targeted DLR: push the target logit above the true one, scaled by the top logits' spread."""
    z, _ = logits.sort(dim=1)
    true = logits.gather(1, y[:, None]).squeeze(1)
    tgt = logits.gather(1, target[:, None]).squeeze(1)
    return -(true - tgt) / (z[:, -1] - 0.5 * (z[:, -3] + z[:, -4]) + 1e-12)


def _margin(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """CW margin: the best wrong logit minus the true one (positive: misclassified)."""
    true = logits.gather(1, y[:, None]).squeeze(1)
    return logits.scatter(1, y[:, None], float("-inf")).amax(1) - true


def _discard_schedule(v) -> str | None:
    ok = isinstance(v, (list, tuple)) and all(
        isinstance(p, (list, tuple)) and len(p) == 2 and isinstance(p[0], int) and not isinstance(p[0], bool)
        and p[0] > 0 and isinstance(p[1], (int, float)) and 0 <= p[1] < 1 for p in v)
    if not ok:
        return "must be a list of [step, fraction] pairs: a positive step, a fraction in [0, 1)"
    steps = [p[0] for p in v]
    return None if steps == sorted(set(steps)) else "its steps must increase"


class _Search(nn.Module):
    """The model the search differentiates: the model itself, or a bfloat16 copy returning float32 logits."""

    def __init__(self, model: nn.Module, precision: str):
        super().__init__()
        self.dtype = torch.bfloat16 if precision == "bf16" else torch.float32
        self.model = model if self.dtype == torch.float32 else copy.deepcopy(model).to(self.dtype)
        self.train(model.training)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x.to(self.dtype)).float()


@register_attack("apgd")
class APGD(Attack):
    @dataclass(frozen=True)
    class Params:
        loss: Literal["ce", "dlr", "dlr-targeted"] = "ce"
        steps: int = field(default=100, metadata=check_field(positive))
        restarts: int = field(default=1, metadata=check_field(positive))
        targets: int = field(default=9, metadata=check_field(positive))  # dlr-targeted: at most classes - 1
        precision: Literal["float32", "bf16"] = "float32"
        # dlr-targeted: which classes are the targets. "logits": the most likely wrong classes (AutoAttack's);
        # "malt": the nearest decision boundaries to first order, |z_y - z_t| / ||grad(z_y - z_t)||_dual at the
        # clean input (MALT, Melamed et al., NeurIPS 2024), which finds the breakable target with fewer runs
        target_order: Literal["logits", "malt"] = "logits"
        # online discarding (after A3, Liu et al., CVPR 2022): [[step, fraction], ...]. At each listed step a row
        # stops when its best iterate has closed less than `fraction` of its starting gap to the decision boundary
        # (the CW margin at the random start); on the published models, every row APGD broke later had closed
        # far more by then (reports/perf_cpu.txt, section 8)
        discard: list = field(default_factory=list, metadata=check_field(_discard_schedule))

    has_low_precision = True

    def __init__(self, name: str, norm: str, eps: float, seed: int = 0, **params):
        super().__init__(name, norm, eps, seed, **params)
        self.adapted: dict = {}  # what a model with few classes made this attack run instead (recorded)
        self.trace: list | None = None  # set to a list to collect (run, rows, CW margin) per evaluation (analysis)

    def low_precision(self) -> "APGD":
        return APGD(self.name, self.norm, self.eps, self.seed, **{**dataclasses.asdict(self.params),
                                                                  "precision": "bf16"})

    def describe(self) -> dict:
        out = super().describe()
        # defaults of options added later: records made before they existed stay as they were
        if self.target_order == "logits":
            out.pop("target_order")
        if not self.discard:
            out.pop("discard")
        return {**out, **self.adapted}

    def loss_for(self, n_classes: int) -> str:
        """The loss this attack runs on a model with `n_classes` classes. DLR divides by the spread of the
        top 3 (untargeted) or 4 (targeted) logits, which a model with fewer classes does not have: it falls
        back to the CW margin (targeted: z_t - z_y), as AutoAttack's users do for such tasks."""
        need = {"ce": 2, "dlr": 3, "dlr-targeted": 4}[self.loss]
        if n_classes >= need:
            return self.loss
        if n_classes < 2:
            raise BenchmarkError(f"attack {self.name}: the model has {n_classes} class; a classifier needs 2 or more")
        return "margin-targeted" if self.loss == "dlr-targeted" else "margin"

    def _schedule(self) -> tuple[int, int, int]:
        """The reference's checkpoints: first after 22% of the steps, then 3% sooner each time, at least 6%."""
        n = self.steps
        return max(int(0.22 * n), 1), max(int(0.06 * n), 1), max(int(0.03 * n), 1)

    def perturb(self, model, x, y, index):
        search = _Search(model, self.precision)
        with torch.no_grad():
            clean = model(x)
        n_classes = clean.shape[1]
        self._loss_name = self.loss_for(n_classes)
        targeted = self.loss == "dlr-targeted"
        n_targets = min(self.targets, n_classes - 1)
        if self._loss_name != self.loss:  # a model with too few classes for DLR: what ran instead, recorded
            self.adapted = {"ran": {"loss": self._loss_name, **({"targets": n_targets} if targeted else {}),
                                    "classes": n_classes}}
        x_adv = x.clone()
        fooled = clean.argmax(1) != y
        ranks = [None] if not targeted else list(range(2, 2 + n_targets))
        order = None
        if targeted and self.target_order == "malt":
            order = self._malt_order(search, x, y, n_targets)
        generator = torch.Generator(device="cpu").manual_seed(self.seed)  # as the reference: once per call
        for rank in ranks:
            for _ in range(self.restarts):
                live = torch.nonzero(~fooled).flatten()
                if live.numel() == 0:
                    return x_adv
                start = self._start(x[live], generator)
                if rank is None:
                    target = None
                elif order is None:
                    target = clean[live].sort(dim=1)[1][:, -rank]
                else:
                    target = order[live, rank - 2]
                for lo in range(0, live.numel(), CHUNK_ROWS):
                    part = slice(lo, lo + CHUNK_ROWS)
                    rows = live[part]
                    found, x_found = self._run(search, model, x[rows], y[rows], None if target is None
                                               else target[part], start[part])
                    x_adv[rows[found]] = x_found[found]
                    fooled[rows[found]] = True
        return x_adv

    def _malt_order(self, search, x: torch.Tensor, y: torch.Tensor, k: int) -> torch.Tensor:
        """The k target classes whose decision boundary is nearest to first order (MALT's targeting), per row:
        the margin z_y - z_t over the dual norm of its input gradient, at the clean input."""
        dual = 1 if self.norm == "Linf" else 2
        rows = []
        for lo in range(0, x.shape[0], CHUNK_ROWS):
            xg = x[lo:lo + CHUNK_ROWS].detach().clone().requires_grad_(True)
            yb = y[lo:lo + CHUNK_ROWS]
            z = search(xg)
            zy = z.gather(1, yb[:, None]).squeeze(1)
            dist = torch.full(z.shape, float("inf"), device=x.device)
            for c in range(z.shape[1]):
                margin = zy - z[:, c]
                (g,) = torch.autograd.grad(margin.sum(), xg, retain_graph=c < z.shape[1] - 1)
                d = margin.detach() / g.flatten(1).norm(p=dual, dim=1).clamp_min(1e-12)
                dist[:, c] = torch.where(yb == c, torch.full_like(d, float("inf")), d)
            rows.append(dist.argsort(dim=1, stable=True)[:, :k])
        return torch.cat(rows)

    def _start(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """The reference's random start: a point on the eps sphere of the norm (one draw for all rows)."""
        if self.norm == "Linf":
            t = 2 * torch.rand(x.shape, generator=generator) - 1
            t = t / (t.abs().flatten(1).amax(1).view(-1, *[1] * (x.dim() - 1)) + 1e-12)
        else:
            t = torch.randn(x.shape, generator=generator)
            t = t / ((t ** 2).flatten(1).sum(-1).sqrt().view(-1, *[1] * (x.dim() - 1)) + 1e-12)
        return (x + self.eps * t.to(x.device)).clamp(0.0, 1.0)

    def _loss(self, logits, y, target):
        loss = getattr(self, "_loss_name", self.loss)
        if loss == "ce":
            return F.cross_entropy(logits, y, reduction="none")
        if loss == "dlr":
            return dlr_loss(logits, y)
        if loss == "dlr-targeted":
            return dlr_targeted_loss(logits, y, target)
        true = logits.gather(1, y[:, None]).squeeze(1)
        if loss == "margin-targeted":
            return logits.gather(1, target[:, None]).squeeze(1) - true
        return logits.scatter(1, y[:, None], float("-inf")).amax(1) - true  # margin

    @staticmethod
    def _l2(v: torch.Tensor) -> torch.Tensor:
        return (v ** 2).flatten(1).sum(-1).sqrt().view(-1, *[1] * (v.dim() - 1))

    def _project(self, x0: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        if self.norm == "Linf":
            return torch.minimum(torch.maximum(z, x0 - self.eps), x0 + self.eps).clamp(0.0, 1.0)
        delta = z - x0
        norms = self._l2(delta)
        return (x0 + delta / (norms + 1e-12) * torch.clamp(norms, max=self.eps)).clamp(0.0, 1.0)

    def _step(self, grad: torch.Tensor) -> torch.Tensor:
        return grad.sign() if self.norm == "Linf" else grad / (self._l2(grad) + 1e-12)

    def _run(self, search, model, x0, y, target, x_start):
        """One APGD run on every row; returns (fooled per row, the fooling iterate per row)."""
        n_rows = x0.shape[0]
        found = torch.zeros(n_rows, dtype=torch.bool, device=x0.device)
        x_found = x_start.clone()
        shape = (-1, *[1] * (x0.dim() - 1))
        k, k_min, k_decr = self._schedule()
        checkpoints = {int(step): float(fraction) for step, fraction in self.discard}
        loss_steps = torch.zeros(self.steps, n_rows, device=x0.device)  # zeros: the reference's first check
        s = dict(x0=x0, y=y, row=torch.arange(n_rows, device=x0.device))  # reads one of them
        if target is not None:
            s["target"] = target

        def drop(keep: torch.Tensor) -> None:
            nonlocal loss_steps
            for key in list(s):
                s[key] = s[key][keep]
            loss_steps = loss_steps[:, keep]

        def evaluate(z: torch.Tensor) -> None:
            """Loss and gradient at z for every live row; rows the float32 model misclassifies leave."""
            z = z.detach().requires_grad_(True)
            logits = search(z)
            loss = self._loss(logits, s["y"], s.get("target"))
            (grad,) = torch.autograd.grad(loss.sum(), z)
            s["x_adv"], s["loss"], s["grad"] = z.detach(), loss.detach(), grad.detach()
            if self.discard or self.trace is not None:  # how near the boundary each row has come
                m = _margin(logits.detach(), s["y"])
                if self.trace is not None:
                    self.trace.append((s["row"].clone(), m.clone()))
                s["margin_best"] = torch.maximum(s["margin_best"], m) if "margin_best" in s else m
                if "margin_start" not in s:
                    s["margin_start"] = m
            hit = self._fooled(model, s["x_adv"], logits.detach(), s["y"], search.dtype)
            if bool(hit.any()):
                found[s["row"][hit]] = True
                x_found[s["row"][hit]] = s["x_adv"][hit]
                drop(torch.nonzero(~hit).flatten())  # a fooled example is done

        evaluate(x_start)
        s["x_old"], s["x_best"], s["grad_best"] = s["x_adv"].clone(), s["x_adv"].clone(), s["grad"].clone()
        s["loss_best"], s["loss_last"] = s["loss"].clone(), s["loss"].clone()
        s["reduced"] = torch.ones_like(s["y"], dtype=torch.bool)
        s["step"] = torch.full_like(s["loss"], 2.0 * self.eps)
        counter = 0
        for i in range(self.steps):
            if s["y"].numel() == 0:
                break
            with torch.no_grad():
                momentum = s["x_adv"] - s["x_old"]
                s["x_old"] = s["x_adv"]
                a = 0.75 if i > 0 else 1.0
                z = self._project(s["x0"], s["x_adv"] + s["step"].view(shape) * self._step(s["grad"]))
                z = self._project(s["x0"], s["x_adv"] + (z - s["x_adv"]) * a + momentum * (1 - a))
            evaluate(z)
            if s["y"].numel() == 0:
                break
            if i + 1 in checkpoints:
                # rows that have closed too little of their gap to the boundary are unlikely to break: they stop
                start = s["margin_start"]
                closed = (s["margin_best"] - start) / (-start).clamp_min(1e-12)
                drop(torch.nonzero(closed >= checkpoints[i + 1]).flatten())
                if s["y"].numel() == 0:
                    break
            with torch.no_grad():
                loss_steps[i] = s["loss"]
                better = s["loss"] > s["loss_best"]
                s["x_best"] = torch.where(better.view(shape), s["x_adv"], s["x_best"])
                s["grad_best"] = torch.where(better.view(shape), s["grad"], s["grad_best"])
                s["loss_best"] = torch.where(better, s["loss"], s["loss_best"])
                counter += 1
                if counter == k:
                    # the reference's checkpoint: did the loss rise in enough of the last k steps, and did
                    # the best loss improve since the last checkpoint
                    rises = sum((loss_steps[i - c] > loss_steps[i - c - 1]).float() for c in range(k))
                    halve = (rises <= k * RHO) | (~s["reduced"] & (s["loss_last"] >= s["loss_best"]))
                    s["reduced"], s["loss_last"] = halve, s["loss_best"].clone()
                    s["step"] = torch.where(halve, s["step"] / 2, s["step"])
                    s["x_adv"] = torch.where(halve.view(shape), s["x_best"], s["x_adv"])
                    s["grad"] = torch.where(halve.view(shape), s["grad_best"], s["grad"])
                    k = max(k - k_decr, k_min)
                    counter = 0
        return found, x_found

    @staticmethod
    def _fooled(model, z, logits, y, dtype) -> torch.Tensor:
        """Rows the float32 model misclassifies: the search's candidates, each confirmed in float32."""
        if dtype == torch.float32:
            cand = logits.argmax(1) != y
        else:  # bf16 logits are coarse: also check every iterate near the decision boundary
            true = logits.gather(1, y[:, None]).squeeze(1)
            other = logits.scatter(1, y[:, None], float("-inf")).amax(1)
            spread = (logits.amax(1) - logits.amin(1)).clamp_min(1e-6)
            cand = other - true > -0.05 * spread
        out = torch.zeros_like(cand)
        idx = torch.nonzero(cand).flatten()
        if idx.numel():
            with torch.no_grad():
                out[idx] = model(z[idx]).argmax(1) != y[idx]
        return out
