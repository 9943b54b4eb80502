"""LoRA (Hu et al. 2022) on a robust source: low-rank updates of its convolutions and linear layers and a
new head train; every source weight stays frozen. Natural (`lora`) or PGD adversarial (`lora_at`, the
training attack of `pgd_at` on the same parameters, as AutoLoRa's setting).

The published weights hold the factors, the head and what training changed beside them (batch-norm
statistics): a few percent of the network, laid over the source's weights.
"""

from __future__ import annotations

from benchmark.models.lora import add_lora, is_lora_key
from benchmark.strategies.natural import FineTune
from benchmark.strategies.pgd_at import ADV_FIELDS, PGDAT
from benchmark.strategies.base import register_strategy

LORA_FIELDS = ("lora_rank", "lora_alpha", "lora_targets")


@register_strategy("lora")
class LoRA(FineTune):
    """Natural training of low-rank updates of the source's layers (`recipe.lora_targets`) and a new head."""

    fields = LORA_FIELDS

    def adapt_model(self, model):
        r = self.recipe
        add_lora(model.blocks, r.lora_rank, r.lora_alpha if r.lora_alpha is not None else r.lora_rank,
                 r.lora_targets)

    def added_keys(self, model):
        return {k for k in model.state_dict() if is_lora_key(k)}

    def trainable(self, model):
        return {n for n, _ in model.named_parameters() if is_lora_key(n) or n.startswith("head.")}

    def describe(self, entry) -> str:
        return f"LoRA (rank {self.recipe.lora_rank}, {self.recipe.lora_targets})"


@register_strategy("lora_at")
class LoRAAT(LoRA):
    """LoRA trained on PGD examples (adversarial parameter-efficient fine-tuning)."""

    fields = LORA_FIELDS + ADV_FIELDS
    adversarial = True
    pgd_steps_per_batch = True
    train_batch = PGDAT.train_batch

    def describe(self, entry) -> str:
        return f"LoRA (rank {self.recipe.lora_rank}) + PGD-{self.recipe.attack_steps} AT"
