"""The default study `python -m benchmark study --data FOLDER --source SOURCE` writes: the paper's arms at
the data sizes the folder allows, 3 seeds, the protocol made for the images, every arm with the same
tuning budget; the user edits it and runs it again like any study."""

from __future__ import annotations

from pathlib import Path

from benchmark.errors import BenchmarkError

LOW_SIZES = (10, 25, 50, 100, 250)
DEFAULT_ARMS = ("linear", "finetune", "lwf", "adv_finetune", "adv_scratch")


def default_study(data: str | Path, source: str, name: str | None = None, seeds: int = 3,
                  sizes: list | None = None, arms: list[str] | None = None, protocol: str | None = None,
                  tune: bool = True) -> dict:
    """The paper's comparison on a folder: transfer arms against adversarial training from scratch and
    adversarial fine-tuning, at every size the folder allows, each arm with the same tuning budget."""
    from benchmark.data import get_task
    from benchmark.data.folder_tasks import inspect_folder, slug
    from benchmark.strategies import STRATEGIES
    from benchmark.transfer import choose_protocol
    from benchmark.zoo import get_entry

    src = get_entry(source)
    src_task = get_task(src.task, relative_to=src.folder)
    info = inspect_folder(data)
    name = name or slug(info.root.name)
    room = info.trainable_per_class
    chosen = [s for s in (sizes or list(LOW_SIZES) + ["all"]) if s == "all" or s <= room]
    if not [s for s in chosen if s != "all"]:
        raise BenchmarkError(f"folder {info.root}: its smallest class has {room} training images once "
                             f"{info.validation_per_class} are held out for tuning, fewer than {min(LOW_SIZES)}: add "
                             "images or pass --sizes")
    if protocol is None:
        from benchmark.data.tasks import Task

        probe = Task(name="probe", dataset="imagefolder", image_size=src_task.image_size,
                     channels=src_task.channels, num_classes=len(info.classes))
        protocol = choose_protocol(probe, None).name
    from benchmark.evaluation import load_protocol

    proto = load_protocol(protocol)
    eps = proto.eps
    grid = {"grid": {"lr": {"scale": [0.5, 2]}, "epochs": {"scale": [0.5, 1]}}} if tune else None
    n_all = sum(info.train_counts.values()) - info.validation_per_class * len(info.classes)
    all_epochs = max(1, 400 // max(1, -(-n_all // 64)))

    def arm(strategy: str, source_name: str | None, extra: dict, desc: str, tuning: dict | None = None) -> dict:
        recipe = {"epochs": all_epochs, "batch_size": 64, "lr": STRATEGIES.get(strategy).transfer_lr, **extra}
        out = {"strategy": strategy}
        if source_name:
            out["source"] = source_name
        out.update({"recipe": recipe, "sizes": list(chosen), "description": desc})
        if grid:
            out["tuning"] = tuning or grid
        return out

    adv = {"eps": eps, "attack_steps": 7}
    catalogue = {
        "linear": arm("linear", source, {}, "Linear head on the frozen source, {n} examples per class."),
        "finetune": arm("finetune", source, {}, "End-to-end natural fine-tuning of the source, {n} examples per "
                                                "class."),
        # LwF's 4 configurations: 2 learning rates x 2 penalty weights (its warm start is half of its epochs)
        "lwf": arm("lwf", source, {"lwf_lambda": 0.1, "lwf_distance": "l1", "warm_start_epochs": all_epochs // 2},
                   "LwF fine-tuning (authors' code settings), {n} examples per class.",
                   {"grid": {"lr": {"scale": [0.5, 2]}, "lwf_lambda": [0.01, 0.1]}}),
        "adv_finetune": arm("pgd_at", source, adv, "Baseline: PGD-7 adversarial fine-tuning of the source, {n} "
                                                   "examples per class."),
        "adv_scratch": arm("pgd_at", None, {**adv, "lr": 0.05}, "Baseline: PGD-7 adversarial training from scratch, "
                                                               "{n} examples per class."),
    }
    if all_epochs < 2:
        catalogue["lwf"]["recipe"]["warm_start_epochs"] = 0
    picked = list(arms or DEFAULT_ARMS)
    unknown = [a for a in picked if a not in catalogue]
    if unknown:
        raise BenchmarkError(f"unknown arm {unknown[0]!r}: choose from {', '.join(catalogue)}")
    labels = {"linear": "linear head on the frozen source", "finetune": "natural fine-tuning",
              "lwf": "LwF fine-tuning", "adv_finetune": "PGD-7 adversarial fine-tuning",
              "adv_scratch": "PGD-7 adversarial training from scratch"}
    study = {"name": name,
             "description": f"The paper's comparison on {info.root} ({len(info.classes)} classes), transferred from "
                            f"{source}: written by `python -m benchmark study --data`; edit it and run it again.",
             "scope": f"compared on the folder {info.root} ({len(info.classes)} classes) from the source {source}",
             "reference": "Shafahi et al., Adversarially Robust Transfer Learning, ICLR 2020",
             "pair": f"{source} -> {info.root.name}", "data": str(info.root), "architecture": src.architecture,
             "threat_model": proto.threat_model, "eps": eps, "protocol": protocol, "names": f"{name}_{{arm}}",
             "seeds": seeds, "suites": ["user"],
             "arms": {a: catalogue[a] for a in picked}}
    transfer = [a for a in picked if a in ("linear", "lwf", "adv_finetune", "finetune")]
    # every arm at every size with its interval, and the differences between arms (against scratch where it runs)
    study["data_size"] = {"sizes": sorted(s for s in chosen if s != "all") + (["all"] if "all" in chosen else []),
                          "arms": {a: labels[a] for a in picked},
                          "transfer": transfer if "adv_scratch" in picked else [],
                          "baseline": "adv_scratch" if "adv_scratch" in picked else None}
    return study
