"""BitFit (Ben Zaken et al. 2022) on a robust source: only the biases and the normalization layers'
scales and shifts train, with a new head; every other source weight stays frozen. Natural (`bitfit`)
or PGD adversarial (`bitfit_at`, `pgd_at`'s training attack on the same parameters).

Batch-norm running statistics follow the target data in training mode, as they do under fine-tuning;
the published weights hold those, the trained parameters and the head, laid over the source's weights.
"""

from __future__ import annotations

from torch import nn

from benchmark.strategies.natural import FineTune
from benchmark.strategies.pgd_at import ADV_FIELDS, PGDAT
from benchmark.strategies.base import register_strategy

NORMS = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm)


def bias_and_norm_parameters(model: nn.Module) -> set[str]:
    """Every bias, and every parameter of a normalization layer."""
    names = set()
    for prefix, module in model.named_modules():
        for name, _ in module.named_parameters(recurse=False):
            if name == "bias" or isinstance(module, NORMS):
                names.add(f"{prefix}.{name}" if prefix else name)
    return names


@register_strategy("bitfit")
class BitFit(FineTune):
    """Natural training of the source's biases and normalization parameters, and a new head."""

    def trainable(self, model):
        return bias_and_norm_parameters(model) | {n for n, _ in model.named_parameters() if n.startswith("head.")}

    def describe(self, entry) -> str:
        return "BitFit"


@register_strategy("bitfit_at")
class BitFitAT(BitFit):
    """BitFit trained on PGD examples."""

    fields = ADV_FIELDS
    adversarial = True
    pgd_steps_per_batch = True
    train_batch = PGDAT.train_batch

    def describe(self, entry) -> str:
        return f"BitFit + PGD-{self.recipe.attack_steps} AT"
