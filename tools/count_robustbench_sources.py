"""Which of RobustBench's Linf and L2 models work as sources, for which strategies (docs/sources.md quotes it).

    python tools/count_robustbench_sources.py [--markdown]

Each model is built on the meta device (no weights, no memory), then:
- every strategy ("retrain the last k" included) where its family has a layout and the model's class does not
  override its family's forward pass (the layout computes exactly that pass);
- the heads and LwF where, failing that, its last linear layer gives its output (`from_final_linear`: the
  whole forward pass in front of that layer is one block);
- none where it cannot be built here (a builder that needs a GPU or a download) or its output is not a linear
  layer's; the reason is listed.
"""

from __future__ import annotations

import argparse
import collections
import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def classify(entry, dataset: str) -> tuple[str, str]:
    """("all" | "heads and LwF" | "none", the reason) for one zoo entry: on the meta device, and for a CIFAR model
    that the meta device cannot serve (data-dependent steps in its builder or forward pass), on the CPU."""
    first = _classify(entry, dataset, "meta")
    if first[0] == "none" and dataset != "imagenet" and ("meta" in first[1] or "on the meta device" in first[1]):
        return _classify(entry, dataset, "cpu")
    return first


def _classify(entry, dataset: str, device: str) -> tuple[str, str]:
    import torch

    from benchmark.sources.layouts import LAYOUTS, _unwrap, from_final_linear

    try:
        with torch.device(device), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            net = entry["model"]()
    except Exception as exc:  # a builder that needs a GPU, a download, or something this machine lacks
        text = str(exc).splitlines()[0][:90] if str(exc) else ""
        return "none", f"cannot be built here on the {device} device ({type(exc).__name__}: {text})"
    _, body = _unwrap(net)
    family = next((c for c in type(body).__mro__ if c.__name__ in LAYOUTS), None)
    if family is not None and type(body).forward is family.forward:
        return "all", f"layout {family.__name__}"
    if family is None and hasattr(body, "forward_features") and hasattr(body, "get_classifier"):
        return "all", "timm's forward_features / forward_head (retrain the last k: k = 1)"
    size = 224 if dataset == "imagenet" else 32
    try:
        probe = torch.empty(2, 3, size, size, device="meta") if device == "meta" else torch.rand(2, 3, size, size)
        found = from_final_linear(net.eval(), probe)
    except Exception as exc:
        found, why = None, f"{type(exc).__name__} in its forward pass on the {device} device"
    else:
        why = "its output is not a linear layer's"
    if found is not None:
        reason = (f"{type(body).__name__} overrides {family.__name__}'s forward pass" if family is not None
                  else f"no layout for {type(body).__name__}")
        return "heads and LwF", reason + "; head found from its last linear layer"
    return "none", f"{type(body).__name__}: no layout, and {why}"


def main(argv=None) -> int:
    from benchmark.sources.providers import robustbench

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--markdown", action="store_true", help="the lists docs/sources.md quotes")
    args = p.parse_args(argv)
    zoo = robustbench()
    rows = []
    for ds, tms in zoo.items():
        for tm, models in tms.items():
            if tm.value not in ("Linf", "L2"):
                continue
            for name, entry in models.items():
                rows.append((ds.value, tm.value, name, *classify(entry, ds.value)))
    counts = collections.Counter((r[0] != "imagenet", r[3]) for r in rows)
    total = collections.Counter(r[0] != "imagenet" for r in rows)
    for cifar, label in ((True, "CIFAR-10/100"), (False, "ImageNet")):
        print(f"{label}: {total[cifar]} models; every strategy {counts[(cifar, 'all')]}, the heads and LwF only "
              f"{counts[(cifar, 'heads and LwF')]}, none {counts[(cifar, 'none')]}")
    print(f"all {len(rows)}: every strategy {sum(r[3] == 'all' for r in rows)}, the heads and LwF (at least) "
          f"{sum(r[3] != 'none' for r in rows)}")
    for kind in ("heads and LwF", "none"):
        listed = [r for r in rows if r[3] == kind]
        if args.markdown:
            print(f"\n{kind}:\n" + "\n".join(f"- `{d}/{t}/{n}`: {why}" for d, t, n, _, why in listed))
        else:
            for d, t, n, _, why in listed:
                print(f"  {kind:<14} {d}/{t}/{n}: {why}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
