"""Evaluate a model under a protocol (`evaluate_model`), or one seed of a zoo entry with its
published or trained weights, writing the record (`evaluate_entry`)."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch
from torch import nn

from benchmark.errors import BenchmarkError
from benchmark.evaluation.battery import BatteryOptions, check_inputs, merge_shards, run_battery
from benchmark.evaluation.protocol import Protocol, load_protocol

SCHEMA_VERSION = 2


@dataclass(frozen=True)
class EvalOptions:
    """How to evaluate: where, how many examples, and the battery's knobs."""

    device: str = "cpu"
    batch_size: int = 500
    n: int | None = None            # evaluation examples (default: the protocol's)
    eps: float | None = None        # a sweep point instead of the protocol's eps
    cascade: bool | None = None     # default: the protocol's
    guards: bool = True
    channels_last: bool = True
    amp: bool = False
    show_progress: bool = False
    keep_adversarial: bool = False  # keep the input that broke each broken example (`--save-adversarial`)
    resume: bool = True             # continue an interrupted evaluation of the same record (evaluate_entry)


@dataclass(frozen=True)
class Locations:
    """Where an entry's weights and data come from and where its record goes."""

    weights: str = "auto"           # auto (published if any, else trained), published, trained, or a file
    cache: str | None = None
    data_dir: str | None = None
    results_dir: str | None = None
    write: bool = True
    sweep: bool = False             # a sweep point: recorded under sweeps/, never over the protocol's record
    update_records: bool = False    # maintainers: write into the project's committed records (else the user's)


@dataclass
class EvalResult:
    """What an evaluation measured: clean, per-attack and worst-case accuracy, and per example."""

    protocol: dict
    eps: float
    n_examples: int
    cascade: bool
    clean_accuracy: float
    robust_accuracy: float
    attacks: list[dict]
    per_example: dict
    seconds: float
    memory_format: str
    attack_precision: str
    guards: dict | None = None
    extra: dict = field(default_factory=dict)
    adversarial: dict | None = field(default=None, repr=False)  # index, x_adv, attack: not part of the record

    def to_record(self, **header) -> dict:
        """A complete record (header fields such as model, seed, weights first)."""
        from benchmark.io import provenance

        body = asdict(self)
        extra = body.pop("extra")
        body.pop("adversarial")
        return {"schema": SCHEMA_VERSION, "complete": True, **header,
                "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), **body, **extra,
                **provenance()}

    @property
    def per_attack(self) -> dict[str, float]:
        """Robust accuracy after each attack (cumulative when the battery ran as a cascade)."""
        return {a["name"]: a["robust_accuracy"] for a in self.attacks}

    def write(self, path, **header) -> Path:
        """Save as a record (atomically); header fields such as model='my_model' go first."""
        from benchmark.results import write_record

        return write_record(self.to_record(**header), Path(path))

    def summary_rows(self) -> list[tuple[str, str]]:
        return summary_rows(asdict(self))

    def __str__(self) -> str:
        return "\n".join(f"{k:<12} {v}" for k, v in self.summary_rows())


def summary_rows(record: dict) -> list[tuple[str, str]]:
    rows = [("clean", f"{100 * record['clean_accuracy']:.1f}%")]
    for a in record["attacks"]:
        norm = a.get("median_norm")
        extra = f"  (median norm of found perturbations {norm:.3f})" if norm is not None and \
            a["type"] in ("DeepFool", "CarliniWagnerL2") else ""
        rows.append((a["name"], f"{100 * a['robust_accuracy']:.1f}%  [{a['n_success']}/{a['n_attacked']} broken, "
                                f"{a['seconds']:.1f}s]{extra}"))
    battery = record.get("robust_accuracy_battery")
    counted = (record.get("guards") or {}).get("counted") or []
    if battery is not None:
        broke = sum(c["broke_battery_robust"] for c in counted)
        rows.append(("guards' att.", f"{100 * record['robust_accuracy']:.1f}%  [{broke} more broken by the guards' "
                                     f"attacks ({', '.join(c['name'][6:] for c in counted)}); the battery alone: "
                                     f"{100 * battery:.1f}%]"))
    rows.append(("worst case", f"{100 * record['robust_accuracy']:.1f}%"))
    split = record.get("clean_test_split")
    if split:
        rows.append(("clean, all", f"{100 * split['accuracy']:.2f}%  [the whole test split, {split['n']} examples]"))
    g = record.get("guards")
    if g:
        rows.append(("guards", f"{'FLAGGED: ' + '; '.join(g['flags']) if g['flagged'] else 'passed'} "
                               f"({g['seconds']:.1f}s on {g['n_examples']} examples)"))
    return rows


def evaluate_model(model: nn.Module, protocol: Protocol | str, x: torch.Tensor, y: torch.Tensor,
                   index: torch.Tensor | None = None, opts: EvalOptions = EvalOptions(),
                   checkpoint=None) -> EvalResult:
    """Attack `model` (pixels in [0, 1] in, logits out) under the protocol on the examples (x, y).

    With a checkpoint (benchmark.evaluation.checkpoint.EvalCheckpoint) the evaluation saves
    its progress after every batch of every attack and after the guards, and continues from
    a saved state of the same evaluation.
    """
    from benchmark.distributed import all_gather, context, shard
    from benchmark.progress import progress_bar

    protocol = load_protocol(protocol) if isinstance(protocol, str) else protocol
    if opts.batch_size <= 0:
        raise BenchmarkError(f"batch size must be positive, got {opts.batch_size}")
    eps = protocol.eps if opts.eps is None else opts.eps
    index = torch.arange(x.shape[0]) if index is None else index
    attacks = protocol.build_attacks(eps)
    cascade = protocol.cascade if opts.cascade is None else opts.cascade
    ctx = context()
    bar = progress_bar(total=len(attacks), desc="attacks", unit="attack", disable=not (opts.show_progress and ctx.is_main),
               leave=False)
    current = {"name": None}

    def progress(name: str, k: int, total: int | None = None):
        if name != current["name"]:
            if current["name"] is not None:
                bar.update(1)
            current["name"] = name
            bar.set_postfix_str(name)
        bar.advance(k, total)

    model = model.to(opts.device).eval()
    mine = shard(ctx, x.shape[0])  # under torchrun each rank attacks its share of the fixed subset
    battery = BatteryOptions(eps, protocol.threat_model, opts.batch_size, opts.device, cascade, opts.channels_last,
                             opts.amp, progress if ctx.is_main else None, opts.keep_adversarial)
    part = run_battery(model, attacks, x[mine], y[mine], index[mine], battery, checkpoint)
    parts = all_gather(ctx, (mine.tolist(), part["per_example"], [a["seconds"] for a in part["attacks"]]))
    merged = merge_shards(parts, part["attacks"], cascade)
    bar.update(bar.total - bar.n)
    bar.close()
    result = EvalResult(protocol.to_dict(), eps, int(x.shape[0]), cascade, merged["clean_accuracy"],
                        merged["robust_accuracy"], merged["attacks"], merged["per_example"],
                        round(part["seconds"], 3), part["memory_format"],
                        "bf16 autocast (successes checked in float32)" if opts.amp else "float32",
                        adversarial=part.get("adversarial"))
    if ctx.enabled:
        result.extra["world_size"] = ctx.world_size
    if opts.guards and ctx.is_main:
        from benchmark.evaluation.guards import guard_options, run_guards
        from benchmark.models.layout import as_layout, channels_last

        state = checkpoint.load() if checkpoint is not None else None
        if state and state.get("guards"):
            result.guards = state["guards"]
        else:
            robust = torch.tensor(result.per_example["robust"])
            stage = progress_bar(total=1, desc="guards", unit="stage", disable=not opts.show_progress, leave=False)
            stage.set_postfix_str(f"the gradient-masking guards on the first {guard_options(protocol, 'cpu').n} "
                                  "examples")
            with stage, channels_last(model, opts.channels_last) as nhwc:
                result.guards = run_guards(model, as_layout(x, nhwc), y, index, robust,
                                           replace(guard_options(protocol, opts.device), eps=eps,
                                                   outcomes=protocol.guards_count,
                                                   keep_adversarial=opts.keep_adversarial))
            if state is not None:
                checkpoint.save({**state, "guards": result.guards})
        if protocol.guards_count:
            count_guards(result)
    return result


def count_guards(result: EvalResult) -> None:
    """Fold the guards' attacks into the worst case (a protocol with `guards_count`): an example is robust only
    if every attack that ran on it failed. Each one's outcome goes into the per-example outcomes as
    `guard:<attack>` (-1 where it did not run), the battery's own worst case stays beside it."""
    from benchmark.evaluation.battery import merge_adversarial

    guards = result.guards
    outcomes = guards.pop("outcomes", {})
    extra = guards.pop("adversarial", None)
    pe = result.per_example
    n = len(pe["index"])
    robust = list(pe["robust"])
    counted = []
    for name, values in outcomes.items():
        full = list(values) + [-1] * (n - len(values))
        pe[f"guard:{name}"] = full
        newly = [i for i, v in enumerate(full) if v == 1 and robust[i] == 1]
        for i in newly:
            robust[i] = 0
        counted.append({"name": f"guard:{name}", "n_attacked": sum(v >= 0 for v in full),
                        "n_success": sum(v == 1 for v in full), "broke_battery_robust": len(newly)})
    result.extra["robust_accuracy_battery"] = result.robust_accuracy
    guards["counted"] = counted
    pe["robust"] = robust
    result.robust_accuracy = sum(robust) / n
    if result.adversarial is not None and extra:
        parts = [{"index": result.adversarial["index"], "x_adv": result.adversarial["x_adv"],
                  "attack": result.adversarial["attack"]}] if result.adversarial["index"].numel() else []
        result.adversarial = merge_adversarial(_as_parts(parts) + extra)


def _as_parts(parts: list[dict]) -> list[dict]:
    """A merged set of adversarial inputs as parts merge_adversarial takes again (one name per part)."""
    out = []
    for p in parts:
        names = p["attack"]
        for name in dict.fromkeys(names):
            rows = torch.tensor([i for i, a in enumerate(names) if a == name])
            out.append({"index": p["index"][rows], "x_adv": p["x_adv"][rows], "attack": name})
    return out


def evaluation_data(task, protocol: Protocol, n: int | None = None, data_dir=None):
    """The protocol's fixed evaluation subset of the task's test split, as float pixels in [0, 1]."""
    from benchmark.data import eval_subset, load_split

    test = load_split(task, False, data_dir)
    n = protocol.n_examples if n is None else n
    if n <= 0:
        raise BenchmarkError(f"--n must be positive, got {n}")
    index = eval_subset(len(test), n, protocol.seed)
    return test.pixels(index), test.labels[index], index


@torch.inference_mode()
def correct_outcomes(model: nn.Module, x: torch.Tensor, y: torch.Tensor, device: str, batch_size: int = 500,
                     nhwc: bool = False) -> list[int]:
    """Whether the model (eval mode) classifies each example right: 1 or 0, batch by batch; uint8 pixels are
    scaled to [0, 1]."""
    from benchmark.models.layout import as_layout

    out = []
    for lo in range(0, x.shape[0], batch_size):
        batch = x[lo:lo + batch_size].to(device)
        batch = batch.float().div_(255) if batch.dtype == torch.uint8 else batch
        out += (model(as_layout(batch, nhwc)).argmax(1).cpu() == y[lo:lo + batch_size]).int().tolist()
    return out


def clean_on_split(model: nn.Module, task, opts: EvalOptions, data_dir=None) -> dict:
    """Clean accuracy on the task's whole test split: its size, the accuracy, and each example's outcome as a
    string of 0/1 in test-split order (compact; the statistics and the gate read it example by example)."""
    from benchmark.data import load_split

    test = load_split(task, False, data_dir)
    model = model.to(opts.device).eval()
    correct = []
    for start in range(0, len(test), opts.batch_size):  # chunk by chunk: a folder's split is read as it goes
        index = torch.arange(start, min(start + opts.batch_size, len(test)))
        correct += correct_outcomes(model, test.pixels(index), test.labels[index], opts.device, opts.batch_size)
    return {"n": len(correct), "accuracy": sum(correct) / len(correct), "correct": "".join(map(str, correct))}


def split_outcomes(record: dict) -> list[int] | None:
    """The per-example clean outcomes on the whole test split, where the record has them."""
    split = record.get("clean_test_split")
    return [int(c) for c in split["correct"]] if split else None


def training_info(entry, weights, cache=None) -> dict | None:
    """Cost and provenance of the training run that made these weights."""
    from benchmark.paths import project_results_dir, user_results_dir
    from benchmark.results import training_record_file
    from benchmark.zoo.weights import training_record_path

    if weights.origin == "published":
        root = project_results_dir() if entry.origin == "project" else user_results_dir()
        path = training_record_file(root, entry.name, weights.seed)
    elif weights.origin == "trained":
        path = training_record_path(entry, weights.seed, cache)
    else:
        return None
    if not path.is_file():
        return None
    t = json.loads(path.read_text())
    if weights.origin == "trained" and t.get("sha256") != weights.sha256:
        return None
    return {k: t.get(k) for k in ("wall_seconds", "cost", "epochs", "n_train", "device", "sha256", "recipe")}


def evaluate_entry(entry, seed: int = 0, protocol: str | Protocol | None = None, opts: EvalOptions = EvalOptions(),
                   where: Locations = Locations()):
    """Evaluate one seed of a zoo entry; returns (record, the record's path, written when `where.write`)."""
    from benchmark.data import get_task
    from benchmark.distributed import context
    from benchmark.results import write_record
    from benchmark.zoo.weights import load_model_and_weights

    ctx = context(opts.device)
    opts = EvalOptions(**{**opts.__dict__, "device": ctx.device(opts.device)})
    protocol = load_protocol(protocol or entry.protocol) if not isinstance(protocol, Protocol) else protocol
    task = get_task(entry.task, relative_to=entry.folder)
    protocol.check_task(task, entry.name)
    if opts.eps is not None:
        protocol.check_eps(opts.eps, task)
    if opts.n is not None and opts.n <= 0:
        raise BenchmarkError(f"--n must be positive, got {opts.n}")
    model, weights = load_model_and_weights(entry, seed, where.weights, opts.device, where.cache)
    x, y, index = evaluation_data(task, protocol, opts.n, where.data_dir)
    check_inputs(x, y, task.n_classes, task.input_shape)
    eps = protocol.eps if opts.eps is None else opts.eps
    path = entry_record_path(entry, seed, protocol, eps, weights.origin, opts, where)
    checkpoint = progress_checkpoint(path, protocol, eps, weights, index, opts, ctx)
    if checkpoint is not None and not opts.resume:
        checkpoint.clear()
    result = evaluate_model(model, protocol, x, y, index, opts, checkpoint)
    record = result.to_record(model=entry.name, seed=seed, weights=weights.describe(), device=opts.device,
                              entry=entry.to_dict(), training=training_info(entry, weights, where.cache))
    if protocol.clean_split and ctx.is_main:
        record["clean_test_split"] = clean_on_split(model, task, opts, where.data_dir)
    if result.adversarial is not None and ctx.is_main:
        record["adversarial"] = write_adversarial(path, result.adversarial)
    if checkpoint is not None:
        checkpoint.clear()
    if ctx.is_main and where.write:
        write_record(record, path)
    return record, path


def entry_record_path(entry, seed: int, protocol: Protocol, eps: float, origin: str, opts: EvalOptions,
                      where: Locations) -> Path:
    """Where an evaluation's record goes: the user's results folder (the project's committed records only with
    `where.update_records`), as the protocol's record or a sweep point's (another eps); published weights on another
    number of examples than the protocol's always go to the user's (never over the committed record)."""
    from benchmark.paths import user_results_dir
    from benchmark.results import record_path, write_root

    sweep_eps = eps if where.sweep or eps != protocol.eps else None
    root = write_root(entry, origin, where.results_dir, where.update_records)
    if opts.n is not None and opts.n != protocol.n_examples and origin == "published" and not where.results_dir:
        root = user_results_dir()
    return record_path(root, protocol.name, entry.name, seed, sweep_eps)


def progress_checkpoint(path: Path, protocol: Protocol, eps: float, weights, index, opts: EvalOptions, ctx):
    """The folder beside the record where this evaluation saves its progress (one per rank under torchrun)."""
    import hashlib

    from benchmark.evaluation.checkpoint import EvalCheckpoint

    key = {"protocol": protocol.to_dict(), "eps": eps, "weights": weights.sha256,
           "index": hashlib.sha256(index.numpy().tobytes()).hexdigest()[:16], "batch_size": opts.batch_size,
           "cascade": opts.cascade, "amp": opts.amp, "channels_last": opts.channels_last, "device": opts.device,
           "keep_adversarial": opts.keep_adversarial, "world": [ctx.rank, ctx.world_size]}
    suffix = ".partial" if not ctx.enabled else f".partial-rank{ctx.rank}"
    return EvalCheckpoint(path.with_name(path.name + suffix), key)


ADVERSARIAL_SUFFIX = ".adv.npz"


def adversarial_path(record_path: Path) -> Path:
    """`seed0.json` -> `seed0.adv.npz`: the audit file of a record."""
    return record_path.with_name(record_path.stem + ADVERSARIAL_SUFFIX)


def write_adversarial(record_path: Path, adversarial: dict) -> dict:
    """Save the inputs that broke each broken example (float32, compressed) beside the record; the
    record keeps the file's name and sha256."""
    import io as _io

    import numpy as np

    from benchmark.io import atomic_write, sha256_file

    path = adversarial_path(Path(record_path))
    buffer = _io.BytesIO()
    np.savez_compressed(buffer, index=adversarial["index"].numpy().astype(np.int64),
                        x_adv=adversarial["x_adv"].numpy().astype(np.float32),
                        attack=np.array(adversarial["attack"], dtype=str))
    atomic_write(path, lambda p: p.write_bytes(buffer.getvalue()))
    return {"file": path.name, "sha256": sha256_file(path), "n": int(adversarial["index"].numel())}
