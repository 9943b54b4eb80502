"""Write the embedded Fashion-MNIST zoo entries (model_zoo/fmnist_*.yaml).

Entries are data; this script only saves typing them. Rerun it after changing a recipe here.
"""

from __future__ import annotations

from pathlib import Path

import yaml

ZOO = Path(__file__).resolve().parent.parent / "model_zoo"
REF = "Shafahi et al., Adversarially Robust Transfer Learning, ICLR 2020"
SIZES = [10, 25, 50, 100, 250, None]
QUICK_SIZES = {10, 25, 50, 100, 250, None}


def entry(name, task, strategy, recipe, source=None, n=None, head=None, suites=("quick", "full"), desc="", ref=REF):
    d = {"name": name, "task": task, "architecture": "small_cnn", "threat_model": "Linf", "eps": 0.1,
         "protocol": "fmnist-linf", "strategy": strategy, "source": source,
         "n_per_class": "all" if n is None else n, "head": head or {"type": "linear"},
         "recipe": recipe, "weights": f"{name}.safetensors", "sha256": None, "url": None,
         "reference": ref, "description": desc, "suites": list(suites)}
    (ZOO / f"{name}.yaml").write_text(yaml.safe_dump(d, sort_keys=False))


def low_data_recipe(n, base, steps=400, batch=64):
    per_epoch = -(-5 * n // batch)
    return {**base, "batch_size": batch, "epochs": max(1, steps // per_epoch)}


def main():
    for old in ZOO.glob("fmnist_*.yaml"):
        old.unlink()
    nat = {"epochs": 5, "batch_size": 128, "lr": 0.02, "momentum": 0.9, "weight_decay": 5e-4, "seed": 0}
    entry("fmnist_src_natural", "fmnist-src", "natural", nat, suites=("quick", "full", "ci"),
          desc="Naturally trained source on Fashion-MNIST classes 0-4.")
    entry("fmnist_src_robust", "fmnist-src", "free_at", {**nat, "epochs": 16, "replays": 4, "eps": 0.1},
          suites=("quick", "full", "ci"),
          desc="Robust source: free adversarial training (m=4, Linf 0.1) on classes 0-4, as the paper's sources.")
    head_recipe = {"epochs": 20, "batch_size": 128, "lr": 0.05, "momentum": 0.9, "weight_decay": 5e-4, "seed": 0}
    ft = {"epochs": 5, "batch_size": 128, "lr": 0.005, "momentum": 0.9, "weight_decay": 5e-4, "seed": 0}
    adv = {"epochs": 5, "batch_size": 128, "lr": 0.02, "momentum": 0.9, "weight_decay": 5e-4, "seed": 0,
           "eps": 0.1, "attack_steps": 7}
    for n in SIZES:
        sfx = "" if n is None else f"_n{n}"
        low = n is not None
        suites = ("quick", "full") if n in QUICK_SIZES else ("full",)
        entry(f"fmnist_linear{sfx}", "fmnist-tgt", "linear",
              low_data_recipe(n, head_recipe) if low else head_recipe, "fmnist_src_robust", n,
              suites=suites + (("ci",) if n is None else ()),
              desc="Linear head on the frozen robust source, natural training.")
        entry(f"fmnist_lwf{sfx}", "fmnist-tgt", "lwf",
              {**(low_data_recipe(n, ft) if low else ft), "lwf_lambda": 1.0}, "fmnist_src_robust", n,
              suites=suites + (("ci",) if n == 100 else ()),
              desc="End-to-end natural fine-tuning with the LwF feature-distance penalty (lambda 1).")
        entry(f"fmnist_finetune{sfx}", "fmnist-tgt", "finetune", low_data_recipe(n, ft) if low else ft,
              "fmnist_src_robust", n, suites=suites, desc="End-to-end natural fine-tuning of the robust source.")
        entry(f"fmnist_adv_scratch{sfx}", "fmnist-tgt", "pgd_at", low_data_recipe(n, adv) if low else adv,
              None, n, suites=suites if low else ("full",),
              desc="Baseline: PGD-7 adversarial training from scratch on the target data.")
        entry(f"fmnist_adv_finetune{sfx}", "fmnist-tgt", "pgd_at",
              {**(low_data_recipe(n, adv) if low else adv), "lr": 0.005}, "fmnist_src_robust", n,
              suites=("full",) if not low or n not in (10, 100) else ("quick", "full"),
              desc="Baseline: PGD-7 adversarial fine-tuning of the robust source on the target data.")
        entry(f"fmnist_mlp{sfx}", "fmnist-tgt", "mlp", low_data_recipe(n, head_recipe) if low else head_recipe,
              "fmnist_src_robust", n, head={"type": "mlp", "hidden": [128, 128]},
              suites=("quick", "full") if n is None else ("full",),
              desc="Two-hidden-layer MLP head on the frozen robust source.")
    fast = {**adv, "epochs": low_data_recipe(100, adv)["epochs"], "batch_size": 64}
    fast.pop("attack_steps")
    entry("fmnist_fast_scratch_n100", "fmnist-tgt", "fast_at", fast, None, 100, suites=("full",),
          desc="Baseline: fast adversarial training (FGSM + random start) from scratch on 100 examples per class.")
    entry("fmnist_free_scratch_n100", "fmnist-tgt", "free_at", {**fast, "replays": 4}, None, 100, suites=("full",),
          desc="Baseline: free adversarial training (m=4) from scratch on 100 examples per class; "
               "the same number of minibatch passes as natural training.")
    entry("fmnist_linear_natsrc", "fmnist-tgt", "linear", head_recipe, "fmnist_src_natural",
          desc="Control: linear head on the frozen naturally trained source.")
    for k in (1, 2, 3):
        entry(f"fmnist_retrain{k}", "fmnist-tgt", "retrain_last_k", {**ft, "lr": 0.02, "k": k}, "fmnist_src_robust",
              desc=f"Re-initialize the last {k} of 3 blocks and retrain them (and the head) naturally.")
    for lam in (0.1, 10.0):
        entry(f"fmnist_lwf_lambda{lam:g}", "fmnist-tgt", "lwf", {**ft, "lwf_lambda": lam}, "fmnist_src_robust",
              desc=f"LwF fine-tuning with lambda {lam:g}.")


if __name__ == "__main__":
    main()
