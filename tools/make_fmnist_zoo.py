"""Write the embedded Fashion-MNIST zoo entries (model_zoo/fmnist_*.yaml), both architecture families.

Entries are data; this script only saves typing them. Rerun it after changing a recipe
here. An existing entry keeps its tuning selection while its grid is unchanged, and its
published weights while its (selected) recipe is unchanged; otherwise they are dropped
and the entry must be tuned / trained / published again.
"""

from __future__ import annotations

from pathlib import Path

import yaml

ZOO = Path(__file__).resolve().parent.parent / "model_zoo"
REF = "Shafahi et al., Adversarially Robust Transfer Learning, ICLR 2020"
SEEDS = [0, 1, 2]
LOW_SIZES = [10, 25, 50, 100, 250]
TUNED_SIZES = {10, 100}          # low-data sizes with their own tuning; the others inherit the nearest
STEPS = 400                      # low-data recipes: about this many minibatches of 64, whatever n
BATCH = 64
EPS = 0.1


def write(name, task, strategy, recipe, *, arch, source=None, n=None, head=None, suites=(), desc="",
          grid=None, seeds=SEEDS):
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
    old = yaml.safe_load(path.read_text()) if path.is_file() else None
    if old:
        d = keep_results(d, old)
    path.write_text(yaml.safe_dump(d, sort_keys=False, width=110))


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


def family(prefix: str, arch: str, nat: dict, rob: dict, head: dict, ft: dict, retrain: dict, adv: dict,
           ks: list[int], main_suites: tuple, extras: bool):
    """One architecture family's entries."""
    p = prefix
    src, natsrc = f"{p}src_robust", f"{p}src_natural"
    both = main_suites
    write(natsrc, "fmnist-src", "natural", nat, arch=arch, suites=both + ("ci",) * (p == "fmnist_"),
          desc="Naturally trained source on Fashion-MNIST classes 0-4.")
    write(src, "fmnist-src", "free_at", rob, arch=arch, suites=both + ("ci",) * (p == "fmnist_"),
          desc="Robust source: free adversarial training (m=4, Linf 0.1) on classes 0-4, as the paper's sources.")
    lwf = {**ft, "lwf_lambda": 0.1, "lwf_distance": "l1", "warm_start_epochs": ft["epochs"] // 2}
    write(f"{p}linear", "fmnist-tgt", "linear", head, arch=arch, source=src, grid=lr_epochs_grid(head),
          suites=both + ("ci",) * (p == "fmnist_"), desc="Linear head on the frozen robust source, natural training.")
    write(f"{p}linear_natsrc", "fmnist-tgt", "linear", head, arch=arch, source=natsrc, grid=lr_epochs_grid(head),
          suites=both, desc="Control: linear head on the frozen naturally trained source.")
    for k in ks:
        write(f"{p}retrain{k}", "fmnist-tgt", "retrain_last_k", {**retrain, "k": k}, arch=arch, source=src,
              grid=lr_epochs_grid(retrain), suites=both,
              desc=f"Re-initialize the last {k} blocks and retrain them (and the head) naturally.")
    write(f"{p}finetune", "fmnist-tgt", "finetune", ft, arch=arch, source=src, grid=lr_epochs_grid(ft), suites=both,
          desc="End-to-end natural fine-tuning of the robust source.")
    write(f"{p}lwf", "fmnist-tgt", "lwf", lwf, arch=arch, source=src, grid=lwf_grid(lwf), suites=both,
          desc="LwF as in the authors' code: L1 feature distance, head warm start for half the epochs, then "
               "end-to-end natural fine-tuning.")
    sizes = LOW_SIZES if extras else [10, 100]
    for n in sizes:
        quick = n in (10, 100)
        suites = (both if quick else ("full",))
        tuned = n in TUNED_SIZES
        nearest = min(TUNED_SIZES, key=lambda t: abs(t - n))
        inherit_note = "" if tuned else f" Hyperparameters: those selected at n={nearest} (not tuned at this size)."
        lin = steps_recipe(n, head)
        tuned_at = steps_recipe(nearest, head)["epochs"]
        if not tuned:
            lin = inherit(lin, f"{p}linear_n{nearest}", tuned_at)
        write(f"{p}linear_n{n}", "fmnist-tgt", "linear", lin, arch=arch, source=src, n=n,
              grid=lr_epochs_grid(lin) if tuned else None, suites=suites,
              desc=f"Linear head on the frozen robust source, {n} examples per class." + inherit_note)
        lw = {**steps_recipe(n, ft), "lwf_lambda": 0.1, "lwf_distance": "l1"}
        lw["warm_start_epochs"] = lw["epochs"] // 2
        if not tuned:
            lw = inherit(lw, f"{p}lwf_n{nearest}", lw["epochs"])
        if n == 100 or extras:
            write(f"{p}lwf_n{n}", "fmnist-tgt", "lwf", lw, arch=arch, source=src, n=n,
                  grid=lwf_grid(lw) if tuned else None,
                  suites=suites + ("ci",) * (p == "fmnist_") if n == 100 else ("full",),
                  desc=f"LwF (authors' code settings), {n} examples per class." + inherit_note)
        adv_n = steps_recipe(n, adv)
        if not tuned:
            adv_n = inherit(adv_n, f"{p}adv_scratch_n{nearest}", steps_recipe(nearest, adv)["epochs"])
        write(f"{p}adv_scratch_n{n}", "fmnist-tgt", "pgd_at", adv_n, arch=arch, n=n,
              grid=lr_epochs_grid(adv_n) if tuned else None, suites=suites,
              desc=f"Baseline: PGD-7 adversarial training from scratch, {n} examples per class." + inherit_note)
        if extras:
            ftn = steps_recipe(n, ft)
            if not tuned:
                ftn = inherit(ftn, f"{p}finetune_n{nearest}", steps_recipe(nearest, ft)["epochs"])
            write(f"{p}finetune_n{n}", "fmnist-tgt", "finetune", ftn, arch=arch, source=src, n=n,
                  grid=lr_epochs_grid(ftn) if tuned else None, suites=("full",),
                  desc=f"Natural fine-tuning of the robust source, {n} examples per class." + inherit_note)
            if n in (10, 100):
                afn = steps_recipe(n, {**adv, "lr": ft["lr"]})
                write(f"{p}adv_finetune_n{n}", "fmnist-tgt", "pgd_at", afn, arch=arch, source=src, n=n,
                      grid=lr_epochs_grid(afn), suites=("full",),
                      desc=f"Baseline: PGD-7 adversarial fine-tuning of the robust source, {n} examples per class.")
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


if __name__ == "__main__":
    main()
