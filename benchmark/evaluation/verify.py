"""Replay a record's adversarial examples: the audit of its upper bound on robustness.

A record written with `--save-adversarial` keeps, beside it, the input that broke every
example it counts as broken. `verify` loads the same weights (sha256-checked) and the same
evaluation examples, and checks each saved input without running any attack: inside the
eps ball of its clean image, pixels in [0, 1], misclassified by the float32 model. Every
broken example must have its input, and every input must do all three, or verify names
the example and fails.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from benchmark.errors import BenchmarkError


@dataclass
class Verification:
    record: str
    n_broken: int = 0
    n_replayed: int = 0
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failures


def _load_adversarial(record_path: Path, record: dict) -> dict:
    import numpy as np

    from benchmark.io import sha256_file

    info = record.get("adversarial")
    if not info:
        raise BenchmarkError(f"{record_path} keeps no adversarial examples: evaluate with --save-adversarial")
    path = record_path.parent / info["file"]
    if not path.is_file():
        raise BenchmarkError(f"{path} is missing: it is written beside the record by --save-adversarial")
    if sha256_file(path) != info["sha256"]:
        raise BenchmarkError(f"{path} changed after the record was written (sha256 differs from the record's): "
                             "it cannot back this record; evaluate again with --save-adversarial")
    with np.load(path, allow_pickle=False) as data:
        return {"index": torch.from_numpy(data["index"]), "x_adv": torch.from_numpy(data["x_adv"]),
                "attack": [str(a) for a in data["attack"]]}


def _model_of(record: dict, cache, entries):
    from benchmark.zoo import get_entry
    from benchmark.zoo.entry import parse_entry
    from benchmark.zoo.weights import load_model_and_weights

    w = record["weights"]
    try:
        entry = get_entry(record["model"], entries)
    except BenchmarkError:
        entry = parse_entry(record["entry"], f"record of {record['model']}")
    how = w["file"] if w["origin"] == "file" else w["origin"]
    model, weights = load_model_and_weights(entry, w["seed"], how, "cpu", cache)
    if weights.sha256 != w["sha256"]:
        raise BenchmarkError(f"the record was made with weights sha256 {w['sha256'][:12]}..., these are "
                             f"{weights.sha256[:12]}...: verify with the weights the record names")
    return entry, model


def verify_record(record_path: Path | str, data_dir=None, cache=None, entries=None) -> Verification:
    from benchmark.attacks import perturbation_norm, within_eps
    from benchmark.data import get_task
    from benchmark.evaluation.entry import evaluation_data
    from benchmark.evaluation.protocol import parse_protocol
    from benchmark.results import read_record

    t0 = time.perf_counter()
    record_path = Path(record_path)
    record = read_record(record_path)
    adv = _load_adversarial(record_path, record)
    entry, model = _model_of(record, cache, entries)
    protocol = parse_protocol(record["protocol"], f"record {record_path}")
    x, y, index = evaluation_data(get_task(entry.task, relative_to=entry.folder), protocol, record["n_examples"],
                                  data_dir)
    pe = record["per_example"]
    if index.tolist() != pe["index"]:
        raise BenchmarkError(f"the evaluation examples of {record_path} are not the task's any more (data changed)")
    out = Verification(str(record_path))
    broken = {i for i, c, r in zip(pe["index"], pe["clean_correct"], pe["robust"]) if c == 1 and r == 0}
    saved = adv["index"].tolist()
    out.n_broken = len(broken)
    for i in sorted(broken - set(saved)):
        out.failures.append(f"example {i}: the record counts it broken, but no adversarial input is saved for it")
    for i in sorted(set(saved) - broken):
        out.failures.append(f"example {i}: an adversarial input is saved, but the record does not count it broken")
    position = {int(i): p for p, i in enumerate(index.tolist())}
    keep = [k for k, i in enumerate(saved) if i in position]
    if keep:
        rows = torch.tensor([position[saved[k]] for k in keep])
        x0, y0, xa = x[rows], y[rows], adv["x_adv"][keep].float()
        if xa.shape[1:] != x0.shape[1:]:
            raise BenchmarkError(f"the adversarial inputs have shape {tuple(xa.shape[1:])}, the examples "
                                 f"{tuple(x0.shape[1:])}")
        with torch.inference_mode():
            pred = torch.cat([model(xa[i:i + 256]).argmax(1) for i in range(0, xa.shape[0], 256)])
        dist = perturbation_norm(xa - x0, protocol.threat_model)
        low, high = xa.flatten(1).amin(1), xa.flatten(1).amax(1)
        for k, i in enumerate(saved[j] for j in keep):
            why = []
            if not bool(within_eps(dist[k:k + 1], record["eps"])):
                why.append(f"outside the eps ball ({protocol.threat_model} distance {float(dist[k]):.6g} > "
                           f"{record['eps']:g})")
            if low[k] < -1e-6 or high[k] > 1 + 1e-6:
                why.append(f"pixels outside [0, 1] ([{float(low[k]):.4g}, {float(high[k]):.4g}])")
            if int(pred[k]) == int(y0[k]):
                why.append(f"the model classifies it correctly (label {int(y0[k])})")
            if why:
                out.failures.append(f"example {i} ({adv['attack'][keep[k]]}): " + "; ".join(why))
        out.n_replayed = len(keep)
    out.seconds = time.perf_counter() - t0
    return out
