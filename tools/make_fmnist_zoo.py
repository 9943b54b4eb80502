"""Write the embedded Fashion-MNIST zoo entries (model_zoo/fmnist_*.yaml), both architecture families.

Entries are data; this script only saves typing them. Rerun it after changing a recipe
here. An existing entry keeps its tuning selection while its grid is unchanged, and its
published weights while its (selected) recipe is unchanged; otherwise they are dropped
and the entry must be tuned / trained / published again.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from benchmark.io import atomic_write_text, file_lock
from benchmark.zoo.entry import entry_lock_file

ZOO = Path(__file__).resolve().parent.parent / "model_zoo"
REF = "Shafahi et al., Adversarially Robust Transfer Learning, ICLR 2020"
SEEDS = list(range(5))           # every entry: 5 seeds, fixed in advance
CLAIM_SEEDS = list(range(10))    # entries a claim test of the default family uses on the first pair (and their sources)
CLAIMS = Path(__file__).resolve().parent.parent / "benchmark" / "reports" / "claims.yaml"
LOW_SIZES = [10, 25, 50, 100, 250]
TUNED_SIZES = {10, 100}          # low-data sizes with their own tuning; the others inherit the nearest
STEPS = 400                      # low-data recipes: about this many minibatches of 64, whatever n
BATCH = 64
EPS = 0.1


def claim_entries() -> set[str]:
    """The default family's claim roles on the first task pair (benchmark/reports/claims.yaml), and their sources."""
    config = yaml.safe_load(CLAIMS.read_text())
    family = next(f for f in config["families"] if f.get("default"))
    names: set[str] = set()

    def collect(v):
        if isinstance(v, str):
            names.add(v)
        elif isinstance(v, list):
            for x in v:
                collect(x)
        elif isinstance(v, dict):
            for x in v.values():
                collect(x)

    collect(family["roles"])
    return names | {n.replace("src_robust", "src_natural") for n in names if "src_robust" in n}


CLAIM_NAMES = claim_entries()


INHERITS: dict[str, str] = {}    # entry -> the tuned entry whose selection its recipe takes (written by main())


def write(name, task, strategy, recipe, *, arch, source=None, n=None, head=None, suites=(), desc="",
          grid=None, seeds=None, inherits=None):
    if inherits:
        INHERITS[name] = inherits
    if seeds is None:
        seeds = CLAIM_SEEDS if name in CLAIM_NAMES else SEEDS
    d = {"name": name, "task": task, "architecture": arch, "threat_model": "Linf", "eps": EPS,
         "protocol": "fmnist-linf", "strategy": strategy}
    if source:
        d["source"] = source
    d.update({"n_per_class": "all" if n is None else n, "head": head or {"type": "linear"}, "seeds": list(seeds),
              "recipe": recipe})
    if grid:
        d["tuning"] = {"grid": grid, "criterion": "robust"}
    d.update({"reference": REF, "description": desc, "suites": list(suites)})
    path = ZOO / f"{name}.yaml"
    with file_lock(entry_lock_file(path)):  # publish and tune may be writing entries side by side
        old = yaml.safe_load(path.read_text()) if path.is_file() else None
        if old:
            d = keep_results(d, old)
        atomic_write_text(path, yaml.safe_dump(d, sort_keys=False, width=110))


def keep_results(new: dict, old: dict) -> dict:
    """Carry over a tuning selection made for the same grid, and weights pinned for the same recipe."""
    sel = (old.get("tuning") or {}).get("selected")
    if sel and new.get("tuning") and old["tuning"].get("grid") == new["tuning"]["grid"]:
        new["tuning"]["selected"] = sel
        new["recipe"] = {**new["recipe"], **sel}
    if old.get("weights") and old.get("recipe") == new["recipe"] and old.get("source") == new.get("source"):
        new = {**{k: v for k, v in new.items() if k not in ("reference", "description", "suites")},
               "weights": old["weights"],
               **{k: new[k] for k in ("reference", "description", "suites")}}
    return new


def selected(name: str) -> dict | None:
    """The tuning selection recorded in an existing entry file, if any."""
    path = ZOO / f"{name}.yaml"
    if not path.is_file():
        return None
    return (yaml.safe_load(path.read_text()).get("tuning") or {}).get("selected")


def inherit(recipe: dict, tuned: str, base_epochs: int) -> dict:
    """`recipe` with the learning rate (and relative training length) selected for entry `tuned`."""
    sel = selected(tuned)
    if not sel:
        return recipe
    out = {**recipe, **{k: v for k, v in sel.items() if k not in ("epochs",)}}
    if "epochs" in sel:
        out["epochs"] = max(1, round(recipe["epochs"] * sel["epochs"] / base_epochs))
        if "warm_start_epochs" in recipe:
            out["warm_start_epochs"] = out["epochs"] // 2
    return out


def steps_recipe(n, base):
    """A low-data recipe: about STEPS minibatches whatever the data size."""
    per_epoch = -(-5 * n // BATCH)
    return {**base, "batch_size": BATCH, "epochs": max(1, STEPS // per_epoch)}


def lr_epochs_grid(recipe):
    """The budget every arm gets: two learning rates x two training lengths (4 configurations)."""
    lr, ep = recipe["lr"], recipe["epochs"]
    return {"lr": [round(lr / 2, 6), round(2 * lr, 6)], "epochs": [max(1, ep // 2), ep]}


def lwf_grid(recipe):
    """LwF's 4 configurations: two learning rates x two feature-distance weights (epochs fixed)."""
    lr = recipe["lr"]
    return {"lr": [round(lr / 2, 6), round(2 * lr, 6)], "lwf_lambda": [0.01, 0.1]}


@dataclass(frozen=True)
class Pair:
    """A source task and a target task of the embedded data (Fashion-MNIST class splits)."""

    source: str
    target: str
    source_classes: str
    target_classes: str


FORWARD = Pair("fmnist-src", "fmnist-tgt", "classes 0-4", "classes 5-9")
REVERSE = Pair("fmnist-tgt", "fmnist-src", "classes 5-9", "classes 0-4")


def family(prefix: str, arch: str, nat: dict, rob: dict, head: dict, ft: dict, retrain: dict, adv: dict,
           ks: list[int], main_suites: tuple, extras: bool, pair: Pair = FORWARD):
    """One architecture family's entries on one task pair: the claims' entries and the data-size sweep;
    `extras` adds the forward pair's other axes (source strength, LwF weight, MLP head, fast/free AT)."""
    p = prefix
    src, natsrc = f"{p}src_robust", f"{p}src_natural"
    both = main_suites
    ci = ("ci",) * (p == "fmnist_")
    ci_pair = ("ci",) * (p in ("fmnist_", "fmnist_rev_"))  # the gate covers the second pair's source and head too
    rest = tuple(s for s in both if s != "quick") or ("full",)  # suites of the entries off the main job
    on = f" (source {pair.source_classes}, target {pair.target_classes})" if pair != FORWARD else ""
    write(natsrc, pair.source, "natural", nat, arch=arch, suites=both + ci,
          desc=f"Naturally trained source on Fashion-MNIST {pair.source_classes}.")
    write(src, pair.source, "free_at", rob, arch=arch, suites=both + ci_pair,
          desc=f"Robust source: free adversarial training (m=4, Linf 0.1) on {pair.source_classes}, as the paper's "
               "sources.")
    tgt = pair.target
    lwf = {**ft, "lwf_lambda": 0.1, "lwf_distance": "l1", "warm_start_epochs": ft["epochs"] // 2}
    write(f"{p}linear", tgt, "linear", head, arch=arch, source=src, grid=lr_epochs_grid(head),
          suites=both + ci_pair, desc="Linear head on the frozen robust source, natural training." + on)
    write(f"{p}linear_natsrc", tgt, "linear", head, arch=arch, source=natsrc, grid=lr_epochs_grid(head),
          suites=both, desc="Control: linear head on the frozen naturally trained source." + on)
    for k in ks:
        write(f"{p}retrain{k}", tgt, "retrain_last_k", {**retrain, "k": k}, arch=arch, source=src,
              grid=lr_epochs_grid(retrain), suites=both,
              desc=f"Re-initialize the last {k} blocks and retrain them (and the head) naturally." + on)
    write(f"{p}finetune", tgt, "finetune", ft, arch=arch, source=src, grid=lr_epochs_grid(ft), suites=both,
          desc="End-to-end natural fine-tuning of the robust source." + on)
    write(f"{p}lwf", tgt, "lwf", lwf, arch=arch, source=src, grid=lwf_grid(lwf), suites=both,
          desc="LwF as in the authors' code: L1 feature distance, head warm start for half the epochs, then "
               "end-to-end natural fine-tuning." + on)
    for n in LOW_SIZES:
        quick = n in (10, 100)
        suites = both if quick else rest
        tuned = n in TUNED_SIZES
        nearest = min(TUNED_SIZES, key=lambda t: abs(t - n))
        inherit_note = "" if tuned else f" Hyperparameters: those selected at n={nearest} (not tuned at this size)."
        lin = steps_recipe(n, head)
        tuned_at = steps_recipe(nearest, head)["epochs"]
        if not tuned:
            lin = inherit(lin, f"{p}linear_n{nearest}", tuned_at)
        write(f"{p}linear_n{n}", tgt, "linear", lin, arch=arch, source=src, n=n,
              grid=lr_epochs_grid(lin) if tuned else None, suites=suites,
              inherits=None if tuned else f"{p}linear_n{nearest}",
              desc=f"Linear head on the frozen robust source, {n} examples per class." + inherit_note + on)
        lw = {**steps_recipe(n, ft), "lwf_lambda": 0.1, "lwf_distance": "l1"}
        lw["warm_start_epochs"] = lw["epochs"] // 2
        if not tuned:
            lw = inherit(lw, f"{p}lwf_n{nearest}", lw["epochs"])
        write(f"{p}lwf_n{n}", tgt, "lwf", lw, arch=arch, source=src, n=n, grid=lwf_grid(lw) if tuned else None,
              suites=suites + ci if n == 100 else rest, inherits=None if tuned else f"{p}lwf_n{nearest}",
              desc=f"LwF (authors' code settings), {n} examples per class." + inherit_note + on)
        adv_n = steps_recipe(n, adv)
        if not tuned:
            adv_n = inherit(adv_n, f"{p}adv_scratch_n{nearest}", steps_recipe(nearest, adv)["epochs"])
        write(f"{p}adv_scratch_n{n}", tgt, "pgd_at", adv_n, arch=arch, n=n,
              grid=lr_epochs_grid(adv_n) if tuned else None, suites=suites,
              inherits=None if tuned else f"{p}adv_scratch_n{nearest}",
              desc=f"Baseline: PGD-7 adversarial training from scratch, {n} examples per class." + inherit_note + on)
        ftn = steps_recipe(n, ft)
        if not tuned:
            ftn = inherit(ftn, f"{p}finetune_n{nearest}", steps_recipe(nearest, ft)["epochs"])
        write(f"{p}finetune_n{n}", tgt, "finetune", ftn, arch=arch, source=src, n=n,
              grid=lr_epochs_grid(ftn) if tuned else None, suites=rest,
              inherits=None if tuned else f"{p}finetune_n{nearest}",
              desc=f"Natural fine-tuning of the robust source, {n} examples per class." + inherit_note + on)
        if n in (10, 100):
            afn = steps_recipe(n, {**adv, "lr": ft["lr"]})
            write(f"{p}adv_finetune_n{n}", tgt, "pgd_at", afn, arch=arch, source=src, n=n,
                  grid=lr_epochs_grid(afn), suites=rest,
                  desc=f"Baseline: PGD-7 adversarial fine-tuning of the robust source, {n} examples per class." + on)
    if not extras:
        return
    # fast and free AT from scratch at n=100, with the same number of minibatch passes as the other baselines
    fast = steps_recipe(100, {k: v for k, v in adv.items() if k != "attack_steps"})
    write(f"{p}fast_scratch_n100", "fmnist-tgt", "fast_at", fast, arch=arch, n=100, grid=lr_epochs_grid(fast),
          suites=("full",), desc="Baseline: fast adversarial training (FGSM + random start) from scratch, n=100.")
    free = {**fast, "replays": 4}
    write(f"{p}free_scratch_n100", "fmnist-tgt", "free_at", free, arch=arch, n=100, grid=lr_epochs_grid(free),
          suites=("full",), desc="Baseline: free adversarial training (m=4) from scratch, n=100.")
    write(f"{p}mlp", "fmnist-tgt", "mlp", head, arch=arch, source=src, head={"type": "mlp", "hidden": [128, 128]},
          grid=lr_epochs_grid(head), suites=("full",), desc="Two-hidden-layer MLP head on the frozen robust source.")
    write(f"{p}lwf_l2", "fmnist-tgt", "lwf", {**ft, "lwf_lambda": 1.0, "lwf_distance": "l2sq"}, arch=arch,
          source=src, grid={"lr": lwf_grid(ft)["lr"], "lwf_lambda": [0.1, 1.0]}, suites=("full",),
          desc="LwF as in the paper's text: squared L2 feature distance, no head warm start.")
    # source strength: sources trained at other eps, and the transfers on them (hyperparameters of the
    # eps-0.1 transfers); the lambda sweep keeps LwF's selected learning rate
    head_sel, lwf_sel = inherit(head, f"{p}linear", head["epochs"]), inherit(lwf, f"{p}lwf", lwf["epochs"])
    head, lwf = head_sel, lwf_sel
    for eps in (0.05, 0.2):
        s = f"{p}src_robust_eps{eps:g}"
        write(s, "fmnist-src", "free_at", {**rob, "eps": eps}, arch=arch, suites=("full",),
              desc=f"Robust source trained at Linf eps {eps:g} (free AT, m=4): the source-strength axis.")
        write(f"{p}linear_src{eps:g}", "fmnist-tgt", "linear", head, arch=arch, source=s, suites=("full",),
              desc=f"Linear head on the source trained at eps {eps:g} (hyperparameters of {p}linear).")
        write(f"{p}lwf_src{eps:g}", "fmnist-tgt", "lwf", lwf, arch=arch, source=s, suites=("full",),
              desc=f"LwF on the source trained at eps {eps:g} (hyperparameters of {p}lwf).")
    write(f"{p}lwf_natsrc", "fmnist-tgt", "lwf", lwf, arch=arch, source=natsrc, suites=("full",),
          desc=f"LwF on the natural source (source eps 0; hyperparameters of {p}lwf).")
    for lam in (0.001, 0.01, 1.0, 10.0):  # lambda 0.1 is {p}lwf itself
        write(f"{p}lwf_lambda{lam:g}", "fmnist-tgt", "lwf", {**lwf, "lwf_lambda": lam}, arch=arch, source=src,
              suites=("full",), desc=f"LwF lambda sweep: lambda {lam:g} (other settings of {p}lwf).")


def main():
    wrn_nat = {"epochs": 5, "batch_size": 128, "lr": 0.05}
    family("fmnist_", "wrn_10_1", nat=wrn_nat, rob={**wrn_nat, "epochs": 16, "replays": 4, "eps": EPS},
           head={"epochs": 20, "batch_size": 128, "lr": 0.05}, ft={"epochs": 6, "batch_size": 128, "lr": 0.01},
           retrain={"epochs": 6, "batch_size": 128, "lr": 0.05},
           adv={"epochs": 6, "batch_size": 128, "lr": 0.05, "eps": EPS, "attack_steps": 7},
           ks=[1, 2, 3], main_suites=("quick", "full"), extras=True)
    cnn_nat = {"epochs": 5, "batch_size": 128, "lr": 0.02}
    family("fmnist_cnn_", "small_cnn", nat=cnn_nat, rob={**cnn_nat, "epochs": 16, "replays": 4, "eps": EPS},
           head={"epochs": 20, "batch_size": 128, "lr": 0.05}, ft={"epochs": 6, "batch_size": 128, "lr": 0.005},
           retrain={"epochs": 6, "batch_size": 128, "lr": 0.02},
           adv={"epochs": 6, "batch_size": 128, "lr": 0.02, "eps": EPS, "attack_steps": 7},
           ks=[1, 2], main_suites=("cnn", "full"), extras=False)
    # the second task pair (source classes 5-9, target classes 0-4) on the default architecture, same recipes
    # and budgets; its own tuning selections
    family("fmnist_rev_", "wrn_10_1", nat=wrn_nat, rob={**wrn_nat, "epochs": 16, "replays": 4, "eps": EPS},
           head={"epochs": 20, "batch_size": 128, "lr": 0.05}, ft={"epochs": 6, "batch_size": 128, "lr": 0.01},
           retrain={"epochs": 6, "batch_size": 128, "lr": 0.05},
           adv={"epochs": 6, "batch_size": 128, "lr": 0.05, "eps": EPS, "attack_steps": 7},
           ks=[1, 2, 3], main_suites=("rev", "full"), extras=False, pair=REVERSE)
    # why claim (d) fails: a linear head on robust features learned on the target task itself (the other
    # pair's robust source, trained on all of the target classes), with the low-data head's hyperparameters
    for p, q, pair in (("fmnist_", "fmnist_rev_", FORWARD), ("fmnist_rev_", "fmnist_", REVERSE)):
        for n in (10, 100):
            lin = inherit(steps_recipe(n, {"epochs": 20, "batch_size": 128, "lr": 0.05}), f"{p}linear_n{n}",
                          steps_recipe(n, {"epochs": 20, "batch_size": 128, "lr": 0.05})["epochs"])
            write(f"{p}linear_n{n}_oracle", pair.target, "linear", lin, arch="wrn_10_1", source=f"{q}src_robust",
                  n=n, suites=("rev", "full") if p == "fmnist_rev_" else ("full",), inherits=f"{p}linear_n{n}",
                  desc=f"Analysis of claim (d): a linear head, {n} examples per class, on robust features learned on "
                       f"the target classes themselves ({q}src_robust, adversarially trained on all of "
                       f"{pair.target_classes}): how far the best robust features carry a frozen-feature transfer. "
                       f"Hyperparameters of {p}linear_n{n}.")


if __name__ == "__main__":
    main()
