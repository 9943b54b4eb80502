"""A study's work as jobs: tune an entry, train (and publish) a seed, evaluate a seed under the study's
protocol, with the order between them (tune -> train -> evaluate; a source's seed before the transfers
that start from it; a tuned size before the sizes that inherit its selection).

The state is read from disk (the entry files, the published weights, the records), so a plan made at
any moment lists exactly what is left: nothing finished is redone. Each job is one command of the CLI,
run by an executor (benchmark.studies.executors) in its own process.
"""

from __future__ import annotations

import contextlib
import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

from benchmark.errors import BenchmarkError
from benchmark.studies.catalog import expand, parts, validate, zoo_dir_of
from benchmark.studies.spec import Study


@dataclass(frozen=True)
class Scope:
    """What part of a study a plan covers, and how: a rehearsal's size override (derived entries NAME@TAG,
    trained into the cache and evaluated there, never published), entries matching a pattern (and the
    sources they need), the data folder, and the evaluation subset's size."""

    override: list[str] | None = None     # --override KEY=VALUE ...
    match: str | None = None              # a regular expression on entry names
    data_dir: str | None = None
    n_examples: int | None = None
    guards: bool = True                   # False: evaluations skip the gradient-masking guards (a rehearsal)
    update_records: bool = False          # a project study run by maintainers: its tunings and records are the project's

    def extra(self, kind: str) -> list[str]:
        out = []
        if self.override:
            out += ["--override", *self.override]
        if self.data_dir:
            out += ["--data-dir", str(self.data_dir)]
        if kind == "evaluate" and self.n_examples:
            out += ["--n", str(self.n_examples)]
        if kind == "evaluate" and not self.guards:
            out.append("--no-guards")
        if kind in ("tune", "evaluate") and self.update_records and not self.override:
            out.append("--update-records")
        return out


@dataclass
class Job:
    kind: str                    # tune, train, evaluate
    entry: str
    seed: int | None = None
    protocol: str | None = None
    after: list[str] = field(default_factory=list)   # keys of the jobs it waits for
    state: str = "ready"         # ready (inputs there) or waiting (on `after`)
    seconds: float | None = None  # projected on the plan's device
    model: str | None = None     # the entry the command names, when it is derived (`entry` is then NAME@TAG)
    scope: Scope = field(default_factory=Scope)

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.entry}" + ("" if self.seed is None else f":{self.seed}")

    def command(self, study: str, device: str = "cpu") -> list[str]:
        base = [sys.executable, "-m", "benchmark"]
        name = self.model or self.entry
        extra = self.scope.extra(self.kind)
        published = not self.scope.override  # a rehearsal keeps its weights in the cache
        if self.kind == "tune":
            return base + ["tune", "--model", name, "--device", device, "--quiet", "--study", study] + extra
        if self.kind == "train":
            return base + ["train", "--model", name, "--seed", str(self.seed), "--device", device, "--quiet"] + \
                (["--publish"] if published else []) + extra
        return base + ["evaluate", "--model", name, "--seed", str(self.seed), "--protocol", self.protocol,
                       "--weights", "published" if published else "trained", "--device", device, "--quiet"] + extra

    def to_json(self) -> dict:
        return {"kind": self.kind, "entry": self.entry, "seed": self.seed, "state": self.state,
                "projected_seconds": None if self.seconds is None else round(self.seconds, 1), "after": self.after}


@dataclass
class Plan:
    study: Study
    protocol: str
    device: str
    jobs: list[Job]
    entries: dict                # name -> ZooEntry, as the study's files will hold them
    total_entries: int
    rewrites: list[str]          # entry files the run writes first (new, or changed by an edit of the study)
    scope: Scope = field(default_factory=Scope)

    @property
    def left(self) -> int:
        return len(self.jobs)

    def projected(self, lanes: int = 1) -> float | None:
        """Wall time on `lanes` parallel lanes (list scheduling on the projected times, dependencies kept)."""
        if not self.jobs:
            return 0.0
        if any(j.seconds is None for j in self.jobs):
            return None
        return schedule(self.jobs, lanes)

    def to_json(self, lanes: int = 1) -> dict:
        total = self.projected(1)
        return {"study": self.study.name, "protocol": self.protocol, "device": self.device,
                "entries": self.total_entries, "left": self.left,
                "projected_seconds": None if total is None else round(total, 1),
                "projected_wall_seconds": None if total is None else round(self.projected(lanes), 1),
                "lanes": lanes, "entry_files_to_write": self.rewrites, "jobs": [j.to_json() for j in self.jobs]}


def schedule(jobs: list[Job], lanes: int) -> float:
    """Finish time of the jobs on `lanes` lanes, each job starting when its inputs are done and a lane is free."""
    import heapq

    done_at: dict[str, float] = {}
    pending = list(jobs)
    free = [0.0] * max(1, lanes)
    keys = {j.key for j in jobs}
    while pending:
        ready = [j for j in pending if all(a in done_at or a not in keys for a in j.after)]
        if not ready:
            raise BenchmarkError("the study's jobs wait for each other in a cycle")
        job = min(ready, key=lambda j: max([done_at.get(a, 0.0) for a in j.after] + [0.0]))
        pending.remove(job)
        lane = heapq.heappop(free)
        start = max([lane] + [done_at.get(a, 0.0) for a in job.after])
        done_at[job.key] = start + (job.seconds or 0.0)
        heapq.heappush(free, done_at[job.key])
    return max(done_at.values())


def record_file(entry, protocol: str, seed: int) -> Path:
    from benchmark.results import record_path, results_root

    return record_path(results_root(entry, "published"), protocol, entry.name, seed)


def weights_sha(entry, seed: int, scope: Scope) -> str | None:
    """The sha256 of the weights a study's job makes: published ones, or a rehearsal's trained copy."""
    if not scope.override:
        ref = entry.published(seed)
        return None if ref is None else ref.sha256
    from benchmark.zoo import has_weights
    from benchmark.zoo.weights import resolve

    return resolve(entry, seed, "trained").sha256 if has_weights(entry, seed, "trained") else None


def record_done(entry, protocol, seed: int, scope: Scope = Scope()) -> bool:
    """A complete record of the study's weights under the protocol's current version (and subset size)."""
    from benchmark.evaluation.corruptions import CorruptionProtocol, corruption_record_path
    from benchmark.results import record_path, results_root

    where = record_path if not isinstance(protocol, CorruptionProtocol) else corruption_record_path
    path = where(results_root(entry, "trained" if scope.override else "published"), protocol.name, entry.name, seed)
    sha = weights_sha(entry, seed, scope)
    if sha is None or not path.is_file():
        return False
    try:
        rec = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return False
    return bool(rec.get("complete")) and rec.get("weights", {}).get("sha256") == sha and \
        rec.get("protocol", {}).get("version") == protocol.version and \
        (scope.n_examples is None or rec.get("n_examples") == scope.n_examples)


def study_entries(study: Study):
    """The study's entries as its files will hold them (the expansion merged with the zoo's state), with
    every other zoo entry; and the names of files the expansion would write."""
    from benchmark.studies.catalog import entry_text
    from benchmark.zoo import load_entries
    from benchmark.zoo.entry import parse_entry

    planned = expand(study)
    validate(study, planned)
    check_protocols(study)
    folder = zoo_dir_of(study)
    entries = load_entries()
    rewrites = []
    for p in planned:
        path = folder / f"{p.name}.yaml"
        if not path.is_file() or path.read_text() != entry_text(p):
            rewrites.append(p.name)
        entries[p.name] = parse_entry(p.data, str(path), "project" if study.origin == "project" else "user")
    return planned, entries, rewrites


def plan_study(study: Study, device: str = "cpu", protocol: str | None = None, project: bool = True,
               seeds: list[int] | None = None, scope: Scope = Scope()) -> Plan:
    """Every job left to do, in dependency order, each with its projected time on `device` when `project`.

    Sources outside the study that have no weights yet are trained too (the paper's ImageNet source, say);
    with `scope.override` the plan is a rehearsal of the study at toy size (see Scope)."""
    import re

    from benchmark.evaluation import load_protocol
    from benchmark.zoo import has_weights
    from benchmark.zoo.entry import derive, parse_override, source_seed

    from benchmark.evaluation.corruptions import is_corruption_protocol, load_corruption_protocol

    planned, entries, rewrites = study_entries(study)
    ref = protocol_ref(study, protocol)
    protocol = load_corruption_protocol(ref) if is_corruption_protocol(ref) else load_protocol(ref)
    if scope.match:
        planned = [p for p in planned if re.fullmatch(scope.match, p.name)]
        if not planned:
            raise BenchmarkError(f"no entry of study {study.name} matches {scope.match!r}")
    names = [p.name for p in planned]
    mine = set(names)
    override = parse_override(scope.override)
    jobs: dict[str, Job] = {}

    def target(name: str):
        """The entry a job makes: in a rehearsal the derived one (NAME@TAG, in `entries` once derived)."""
        return entries[derive(entries[name], override, entries).name] if override else entries[name]

    def add(job: Job) -> str:
        if override:
            job.model, job.entry = job.entry, target(job.entry).name
        job.scope = scope
        jobs[job.key] = job
        return job.key

    def done(name: str, seed: int) -> bool:
        e = target(name)
        if override:
            return has_weights(e, seed, "trained")
        return e.published(seed) is not None or (name not in mine and has_weights(e, seed, "auto"))

    def train_key(name: str, seed: int) -> list[str]:
        """The job that makes `name` seed `seed` (and the sources it needs), if it is still to do."""
        if done(name, seed):
            return []
        e = entries[name]
        if e.strategy == "external":
            raise BenchmarkError(f"source {name} has no weights for seed {seed}: it is published elsewhere (see "
                                 f"{e.path}); download it first, or leave out the arms that need it (--match)")
        key = f"train:{target(name).name}:{seed}"
        if key not in jobs and name not in mine:  # a source outside the study, without weights: train it too
            add(Job("train", name, seed, after=src_key(e, seed)))
        return [key]

    def src_key(e, seed: int) -> list[str]:
        """The training job of the source seed that seed `seed` of `e` starts from, if still to do."""
        if not e.source:
            return []
        try:
            return train_key(e.source, source_seed(entries[e.source], seed))
        except BenchmarkError as exc:
            raise BenchmarkError(f"{e.name}: {exc}") from None

    for p in sorted(planned, key=lambda p: _depth(p.name, entries)):
        e = entries[p.name]
        run_seeds = [s for s in e.seeds if seeds is None or s in seeds]
        waits: list[str] = []
        if not override and e.tuning is not None and e.tuning.selected is None:
            after = [k for s in e.seeds[:e.tuning.seeds] for k in src_key(e, s)]
            floor = e.tuning.clean_at_least  # its selection's validation clean accuracy comes first
            if floor in entries and entries[floor].tuning is not None and entries[floor].tuning.selected is None:
                if f"tune:{floor}" not in jobs and floor not in mine:
                    add(Job("tune", floor, after=[k for s in entries[floor].seeds[:entries[floor].tuning.seeds]
                                                  for k in src_key(entries[floor], s)]))
                after.append(f"tune:{floor}")
            waits.append(add(Job("tune", e.name, after=after)))
        if not override and p.inherits and entries[p.inherits].tuning is not None and \
                entries[p.inherits].tuning.selected is None:
            key = f"tune:{p.inherits}"
            if key not in jobs and p.inherits not in mine:  # left out by --match: its tuning is still needed first
                inherited = entries[p.inherits]
                add(Job("tune", inherited.name, after=src_key(inherited, inherited.seeds[0])))
            waits.append(key)
        for s in run_seeds:
            train = []
            if not done(p.name, s):
                after = waits + src_key(e, s)
                train = [add(Job("train", e.name, s, after=after))]
            if not train and record_done(target(p.name), protocol, s, scope):
                continue
            add(Job("evaluate", e.name, s, ref, after=train))
    out = list(jobs.values())
    for j in out:
        j.after = [a for a in j.after if a in jobs]
        j.state = "waiting" if j.after else "ready"
    plan = Plan(study, protocol.name, device, out, entries, len(names), rewrites, scope)
    if project and out:
        Projector(device, protocol).fill(plan)
    return plan


def check_protocols(study: Study) -> None:
    """Each part's protocol must fit its images and serve its number of classes: one line naming the field."""
    from benchmark.data import get_task
    from benchmark.evaluation import load_protocol
    from benchmark.studies.catalog import part_task

    for part in parts(study):
        try:
            protocol = load_protocol(protocol_ref(part))
            protocol.check_task(get_task(part_task(part).ref, relative_to=part.folder))
        except BenchmarkError as exc:
            raise BenchmarkError(f"{part.path}: field 'protocol': {exc}") from None


def protocol_ref(study: Study, asked: str | None = None) -> str:
    """The protocol a study evaluates under, as `load_protocol` takes it (a file relative to the study's)."""
    ref = asked or study.protocol or parts(study)[0].protocol
    if asked is None and ref.endswith((".yaml", ".yml")) and not Path(ref).is_absolute():
        ref = str(study.folder / ref)
    return ref


def _depth(name: str, entries) -> int:
    e, d = entries.get(name), 0
    while e is not None and e.source:
        d += 1
        e = entries.get(e.source)
    return d


class Projector:
    """Projected seconds of each job on the plan's device. Where the same entry was already trained (same recipe)
    or evaluated (same attacks) on this kind of device, from those runs' recorded times (the median; `seeds`
    limits which seeds' records count); otherwise trainings from rates measured here once per kind of job (as
    `--dry-run` does), evaluations from what the protocol's committed evaluations of models of the same strategy
    cost in passes of their own model (an upper-bound pass count where there are none); every job adds its
    start-up, measured in a fresh process. On a CPU the rates are measured with the threads
    each job gets (`threads`: one per lane when run here), not this process's."""

    # rates measured once per process: every plan made here (a group's parts, `plan` then `run`) shares them
    _rates: dict = {}
    _fb: dict = {}
    _startup: dict = {}

    def __init__(self, device: str, protocol, seeds: set[int] | None = None, threads: int = 1):
        self.device, self.protocol, self.seeds, self.threads = device, protocol, seeds, threads
        self._survival = None
        self._passes: dict[str, float] | None = None

    def fill(self, plan: Plan) -> None:
        for job in plan.jobs:
            e = plan.entries[job.entry]
            if job.kind == "train":
                job.seconds = self.train_seconds(e, e.parsed_recipe())
            elif job.kind == "tune":
                job.seconds = self.tune_seconds(e)
            else:
                job.seconds = self.evaluate_seconds(e)

    def _recorded(self, paths, seconds, same) -> float | None:
        """The median of `seconds(record)` over the records at `paths` that `same` accepts (None: none)."""
        import statistics

        got = []
        for path in paths:
            try:
                rec = json.loads(path.read_text())
            except (OSError, json.JSONDecodeError):
                continue
            if (self.seeds is None or rec.get("seed") in self.seeds) and same(rec):
                value = seconds(rec)
                if value:
                    got.append(value)
        return statistics.median(got) if got else None

    def recorded_train_seconds(self, entry, recipe) -> float | None:
        from benchmark.results import results_root

        folder = results_root(entry, "published") / "training" / entry.name
        return self._recorded(sorted(folder.glob("seed*.json")), lambda r: r.get("wall_seconds"),
                              lambda r: r.get("recipe") == recipe.to_dict() and r.get("device", "cpu").split(":")[0]
                              == self.device.split(":")[0])

    def _same_evaluation(self, rec: dict) -> bool:
        """A record of the protocol's attacks on its number of examples, made on this kind of device."""
        return [a["name"] for a in rec.get("attacks", [])] == [a["name"] for a in self.protocol.attacks] and \
            rec.get("n_examples") == self.protocol.n_examples and \
            rec.get("device", "cpu").split(":")[0] == self.device.split(":")[0]

    @staticmethod
    def _evaluation_seconds(rec: dict) -> float:
        """A record's evaluation time: the battery and the guards."""
        return rec.get("seconds", 0) + ((rec.get("guards") or {}).get("seconds") or 0)

    def recorded_evaluate_seconds(self, entry) -> float | None:
        from benchmark.results import results_root

        folder = results_root(entry, "published") / self.protocol.name / entry.name
        return self._recorded(sorted(folder.glob("seed*.json")), self._evaluation_seconds, self._same_evaluation)

    def train_seconds(self, entry, recipe) -> float:
        recorded = self.recorded_train_seconds(entry, recipe)
        if recorded is not None:
            return recorded + self.startup_seconds(entry, train=True)
        return self.measured_train_seconds(entry, recipe) + self.startup_seconds(entry, train=True)

    def startup_seconds(self, entry, train: bool) -> float:
        """A job's fixed cost, measured in a fresh process as a job starts: the imports, then the task's splits
        (a training job loads both, an evaluation the test split), plus a second for the model and writing.
        On the embedded task about 8 s: more than a whole linear head's training at 10 per class."""
        folder = None if entry.folder is None else str(entry.folder)
        key = (entry.task, folder, train)
        if key not in self._startup:
            import subprocess

            from benchmark.studies.executors import job_env

            code = ("import time; t0 = time.time()\n"
                    "import torch, torchvision, benchmark.cli, benchmark.training, benchmark.evaluation\n"
                    "from benchmark.data import get_task, load_split\n"
                    "task = get_task(%r, relative_to=%r)\n"
                    "[load_split(task, s, download=False) for s in %r]\n"
                    "print(time.time() - t0)" % (entry.task, folder, (True, False) if train else (False,)))
            try:
                out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                                     env=job_env(self.device, threads=self.threads))
                self._startup[key] = float(out.stdout.strip().splitlines()[-1]) + 1.0
            except (subprocess.SubprocessError, ValueError, IndexError):
                self._startup[key] = 3.0  # the data not on this machine yet: the imports alone
        return self._startup[key]

    def measured_train_seconds(self, entry, recipe) -> float:
        from benchmark.perf.projection import _n_train

        strategy = entry.make_strategy(recipe)
        n = _n_train(entry)
        frozen = self.frozen_passes(entry, recipe)
        if frozen is not None:  # a frozen prefix: its outputs once, then only the trained part per epoch
            return n * frozen / self.rate(entry, recipe, natural=True)
        steps = strategy.passes() * math.ceil(n / recipe.batch_size) * strategy.optimizer_steps_per_batch()
        return steps * recipe.batch_size / self.rate(entry, recipe)

    def frozen_passes(self, entry, recipe) -> float | None:
        """Full-model forward+backward passes per training example of a strategy with a frozen prefix (heads,
        retraining the last blocks, LwF's head warm start): the prefix's forward pass once (a third of a pass,
        weighted by its share of the model's multiply-accumulates), then each epoch through the trained part;
        None for strategies that train everything every step."""
        from benchmark.data import get_task
        from benchmark.training.cost import block_mac_shares
        from benchmark.zoo.weights import build_entry_model

        if entry.strategy not in ("linear", "mlp", "retrain_last_k", "lwf"):
            return None
        model = build_entry_model(entry)
        shares = block_mac_shares(model, get_task(entry.task, relative_to=entry.folder).input_shape)
        if entry.strategy == "lwf":  # warm start: the whole forward pass each step, the head's backward; then LwF
            warm = recipe.warm_start_epochs
            return warm * (1 / 3 + 2 / 3 * shares[-1]) + (recipe.epochs - warm) * 4 / 3
        frozen = entry.make_strategy(recipe).frozen_blocks(model)
        return sum(shares[:frozen]) / 3 + recipe.epochs * sum(shares[frozen:])

    def rate(self, entry, recipe, natural: bool = False) -> float:
        """Training examples per second per optimizer step, measured here (memoized per kind of step); `natural`:
        of a full natural step (a full-model forward+backward pass per example)."""
        from benchmark.perf.projection import FROZEN_BODY, forward_flops
        from benchmark.data import get_task
        from benchmark.perf.paper import PaperPerfOptions, ours_rate

        task = get_task(entry.task, relative_to=entry.folder)
        kind = "natural" if entry.strategy in ("linear", "mlp", "retrain_last_k", "finetune", "lwf") else entry.strategy
        flops, _ = forward_flops(entry)
        # the recipe's batch where a step is cheap; smaller (at least 2) for paper-size models on a CPU
        batch = recipe.batch_size if self.device != "cpu" else max(2, min(recipe.batch_size, int(2e10 / (3 * flops))))
        key = (self.device, self.threads, entry.architecture, kind, batch, task.input_shape, task.n_classes,
               getattr(recipe, "attack_steps", 0), getattr(recipe, "replays", 0))
        if key not in self._rates:
            strategy = entry.make_strategy(recipe)
            # a few steps after a warm-up, at the recipe's batch: a 2-step measurement is mostly start-up; a
            # paper-size model on a CPU (a batch of a few, seconds a step) needs fewer to be as exact
            big = batch < min(16, recipe.batch_size)
            opts = PaperPerfOptions(device=self.device, batch=batch,
                                    steps=max(3 if big else 8, strategy.optimizer_steps_per_batch()),
                                    warmup=1 if big else 2)
            with self._job_threads():
                self._rates[key] = ours_rate(entry.architecture, kind, opts, task.input_shape, task.n_classes)
        if natural:
            return self._rates[key]
        return self._rates[key] / (FROZEN_BODY.get(entry.strategy, 1.0) if kind == "natural" else 1.0)

    def tune_seconds(self, entry) -> float:
        from benchmark.data import get_task
        from benchmark.tuning import VALIDATION_ATTACKS, VALIDATION_STEPS, grid_configs

        base = entry.parsed_recipe()
        task = get_task(entry.task, relative_to=entry.folder)
        n_val = (task.validation.n_per_class * task.n_classes) if task.validation else 0
        scoring = n_val * VALIDATION_STEPS * len(VALIDATION_ATTACKS) * self.fb_seconds(entry)
        return entry.tuning.seeds * sum(self.train_seconds(entry, base.with_values(**c)) + scoring
                                        for c in grid_configs(entry.tuning))

    def fb_seconds(self, entry) -> float:
        """Seconds of one forward+backward pass of one example of the entry's architecture, measured here."""
        import torch

        from benchmark.data import get_task
        from benchmark.perf.measure import fwd_bwd_seconds
        from benchmark.zoo.weights import build_entry_model

        task = get_task(entry.task, relative_to=entry.folder)
        key = (self.device, self.threads, entry.architecture, task.input_shape, task.n_classes,
               entry.head.get("type"), min(500, self.protocol.n_examples))
        if key not in self._fb:
            from benchmark.perf.projection import forward_flops

            model = build_entry_model(entry).to(self.device).eval()
            flops, _ = forward_flops(entry)  # a small batch for paper-size models on a CPU, as for training
            # the evaluation's own batch (500, or the protocol's examples), smaller for paper-size models on a CPU
            batch = max(2, min(500, self.protocol.n_examples, int(2e10 / (3 * flops)))) if self.device == "cpu" \
                else 256
            x = torch.rand(batch, *task.input_shape, device=self.device)
            y = torch.zeros(batch, dtype=torch.long, device=self.device)
            with self._job_threads():
                self._fb[key] = fwd_bwd_seconds(model, x, y, self.device, repeats=2) / batch
        return self._fb[key]

    @contextlib.contextmanager
    def _job_threads(self):
        """Measure with a job's threads: a rate at this process's thread count overstates a one-thread job's."""
        import torch

        if self.device != "cpu":
            yield
            return
        before = torch.get_num_threads()
        torch.set_num_threads(self.threads)
        try:
            yield
        finally:
            torch.set_num_threads(before)

    def evaluate_seconds(self, entry) -> float:
        if not hasattr(self.protocol, "attacks"):  # corruptions: a forward pass per example and variant (a third of
            # a forward+backward pass), the corrupted images made once per task and cached
            n = self.protocol.n_examples * (1 + len(self.protocol.variants))
            return n * self.fb_seconds(entry) / 3 + self.startup_seconds(entry, train=False)
        recorded = self.recorded_evaluate_seconds(entry)
        if recorded is None:
            passes = self.effective_passes(entry.strategy)
            recorded = passes * self.fb_seconds(entry) if passes is not None else self.measured_evaluate_seconds(entry)
        return recorded + self.startup_seconds(entry, train=False)

    def effective_passes(self, strategy: str) -> float | None:
        """What one evaluation under the protocol costs, in forward+backward passes of one example of the model
        evaluated: the median over the committed records of models of the same strategy (else of every model) of
        the record's seconds over one such pass of its own model, measured here. It counts what the pass model
        cannot: examples leaving an attack at their break, APGD's discard schedule, the guards' reuse. None: no
        record under the protocol has an entry this machine can build."""
        if self._passes is None:
            self._passes = self._recorded_passes()
        return self._passes.get(strategy) or self._passes.get("*")

    def _recorded_passes(self) -> dict[str, float]:
        import statistics

        from benchmark.paths import project_results_dir
        from benchmark.zoo import load_entries

        entries = load_entries()
        got: dict[str, list[float]] = {}
        for path in sorted((project_results_dir() / self.protocol.name).glob("*/seed*.json")):
            try:
                rec = json.loads(path.read_text())
            except (OSError, json.JSONDecodeError):
                continue
            e = entries.get(rec.get("model"))
            if e is None or not self._same_evaluation(rec):
                continue
            seconds = self._evaluation_seconds(rec)
            if seconds:
                for key in (e.strategy, "*"):
                    got.setdefault(key, []).append(seconds / self.fb_seconds(e))
        return {k: statistics.median(v) for k, v in got.items()}

    def measured_evaluate_seconds(self, entry) -> float:
        from benchmark.data import get_task
        from benchmark.evaluation.guards import guard_options
        from benchmark.perf.projection import _attack_fb, test_size

        task = get_task(entry.task, relative_to=entry.folder)
        reach = self.reach(entry.strategy)
        n = self.protocol.n_examples
        passes = sum(n * reach[i] * _attack_fb(a, task.n_classes) for i, a in enumerate(self.protocol.attacks))
        survivors = reach[len(self.protocol.attacks)]
        g = guard_options(self.protocol, self.device)
        # the guards on their slice: the PGD runs (short, long, 0.5x and 2x eps, large eps) and one gradient on every
        # example; Square (a forward per query, a third of a pass) and FAB-T (about a pass per target and iteration)
        # on the battery's survivors
        pgd = 10 + g.long_steps * g.long_restarts + 10 + 10 + 20 + 1
        black_box = survivors * (g.square_queries / 3 + (min(g.fab_targets, task.n_classes - 1) * 100
                                                           if g.fab_targets else 0))
        guards = g.n * (pgd + black_box)
        clean = test_size(task) / 3 if self.protocol.clean_split else 0.0  # forward passes of the whole test split
        return (passes + guards + clean) * self.fb_seconds(entry)

    def reach(self, strategy: str) -> list[float]:
        """The share of the evaluation subset each attack of the protocol attacks (and that survives them all),
        from the committed records under this protocol (models of the same strategy where there are some)."""
        if self._survival is None:
            self._survival = _survival(self.protocol)
        n_attacks = len(self.protocol.attacks)
        return self._survival.get(strategy) or self._survival.get("*") or [1.0] * (n_attacks + 1)


def _survival(protocol) -> dict[str, list[float]]:
    from benchmark.paths import project_results_dir

    sums: dict[str, list[float]] = {}
    counts: dict[str, int] = {}
    names = [a["name"] for a in protocol.attacks]
    for path in sorted((project_results_dir() / protocol.name).glob("*/seed*.json")):
        try:
            rec = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        # the battery's reach: records of any version that ran the same attacks (a version that only counts the
        # guards' breaks reaches the same examples)
        if [a["name"] for a in rec["attacks"]] != names:
            continue
        n = rec["n_examples"]
        shares = [a["n_attacked"] / n for a in rec["attacks"]] + [rec["robust_accuracy"]]
        for key in (rec.get("entry", {}).get("strategy") or "?", "*"):
            acc = sums.setdefault(key, [0.0] * len(shares))
            sums[key] = [u + v for u, v in zip(acc, shares)]
            counts[key] = counts.get(key, 0) + 1
    return {k: [v / counts[k] for v in s] for k, s in sums.items()}


def duration(seconds: float | None) -> str:
    from benchmark.perf.projection import _duration

    return "not measured" if seconds is None else _duration(seconds)


def describe(plan: Plan, lanes: int) -> list[str]:
    """The plan as lines: every job with its state and projected time, then the totals."""
    lines = [f"study {plan.study.name}: {plan.total_entries} entries, evaluated under {plan.protocol}; "
             f"{plan.left} jobs left"]
    if plan.rewrites:
        lines.append(f"entry files to write first: {len(plan.rewrites)} ({', '.join(plan.rewrites[:6])}"
                     f"{', ...' if len(plan.rewrites) > 6 else ''})")
    for j in plan.jobs:
        wait = f" (after {', '.join(j.after[:3])}{', ...' if len(j.after) > 3 else ''})" if j.after else ""
        lines.append(f"  {j.key:<48} {j.state:<8} {duration(j.seconds) if j.seconds is not None else '':>8}{wait}")
    total = plan.projected(1)
    if plan.jobs and total is None:
        lines.append(f"not projected ({plan.left} jobs; --no-measure skips measuring this {plan.device}'s rates: "
                     "leave it out to see each job's time)")
    elif plan.jobs:
        lines.append(f"projected on this {plan.device}: {duration(total)} of compute, about "
                     f"{duration(plan.projected(lanes))} on {lanes} lane{'s' if lanes > 1 else ''} (rates measured "
                     "here; evaluations from how far examples got in committed records under "
                     "the protocol, an upper bound where there are none)")
    else:
        lines.append("nothing left to do")
    return lines


def projection_check(study_name: str, seeds: list[int], before: set[int], protocol: str | None = None,
                     device: str = "cpu") -> list[dict]:
    """`study plan`'s projection of a run against what it took: every training and evaluation of `seeds` in the
    study, projected from what was known before them (the records of the seeds in `before`, else rates measured
    here) and compared with its own recorded time. Nothing is trained or evaluated."""
    import json

    from benchmark.evaluation import load_protocol
    from benchmark.results import record_path, results_root, training_record_file
    from benchmark.studies import load_study
    from benchmark.studies.catalog import expand

    study = load_study(study_name)
    proto = load_protocol(protocol or protocol_ref(study))
    _, entries, _ = study_entries(study)
    projector = Projector(device, proto, seeds=before)
    rows = []
    for planned in expand(study):
        e = entries[planned.name]
        for seed in [s for s in seeds if s in e.seeds]:
            root = results_root(e, "published")
            path = training_record_file(root, e.name, seed)
            if path.is_file():
                actual = json.loads(path.read_text()).get("wall_seconds")
                known = projector.recorded_train_seconds(e, e.parsed_recipe())
                rows.append({"kind": "train", "entry": e.name, "seed": seed, "actual": actual,
                             "projected": projector.train_seconds(e, e.parsed_recipe()),
                             "from": "records" if known is not None else "rates measured here"})
            path = record_path(root, proto.name, e.name, seed)
            if path.is_file():
                rec = json.loads(path.read_text())
                actual = rec.get("seconds", 0) + ((rec.get("guards") or {}).get("seconds") or 0)
                known = projector.recorded_evaluate_seconds(e)
                rows.append({"kind": "evaluate", "entry": e.name, "seed": seed, "actual": actual,
                             "projected": projector.evaluate_seconds(e),
                             "from": "records" if known is not None else "rates measured here"})
    return rows
