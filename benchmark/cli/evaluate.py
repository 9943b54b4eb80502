"""`evaluate` and `trajectory`: attack zoo entries (every seed) under a protocol and write their records; follow a
fine-tuning's robustness along its run."""

from __future__ import annotations


from benchmark.cli.common import (add_common, add_eval_options, add_models, add_override, add_update_records,
                                  eval_options, overridden, selected_models)
from benchmark.errors import BenchmarkError


def available_seeds(entry, asked, weights: str, cache) -> list[int]:
    """The seeds to evaluate: the ones asked for, or every seed that has weights."""
    from benchmark.zoo import check_seeds, has_weights
    from benchmark.zoo.weights import train_command

    if asked:
        return check_seeds(entry, asked)
    seeds = [s for s in entry.seeds if has_weights(entry, s, weights, cache)]
    if not seeds and "paper" in entry.suites and weights in ("auto", "published"):
        from benchmark.evaluation import load_protocol
        from benchmark.perf.projection import chain_message
        from benchmark.zoo import load_entries

        raise BenchmarkError(chain_message(entry, load_entries(), lambda e: any(
            has_weights(e, s, "auto", cache) for s in e.seeds), load_protocol(entry.protocol)))
    if not seeds and weights == "published":
        raise BenchmarkError(f"{entry.name} has no published weights for seeds {entry.seeds}: train them with "
                             f"`{train_command(entry)}` and evaluate with --weights trained")
    if not seeds:
        from benchmark.zoo import resolve

        resolve(entry, entry.seeds[0], weights, cache)  # says why: missing, corrupt, ...
        raise BenchmarkError(f"no weights for {entry.name} (no published weights, nothing trained in the cache): "
                             f"run `{train_command(entry)}`")
    return seeds


def print_record(record: dict, path, elapsed: float) -> None:
    from benchmark.evaluation import summary_rows

    p = record["protocol"]
    w = record["weights"]
    print(f"\n{record['model']} seed {record['seed']} ({w['origin']} weights {w['sha256'][:12]}) under {p['name']} "
          f"v{p['version']} ({p['threat_model']} eps={record['eps']:g}, n={record['n_examples']}, "
          f"{'cascade' if record['cascade'] else 'every attack on every example'})")
    for label, value in summary_rows(record):
        print(f"  {label:<12} {value}")
    print(f"  evaluation time {elapsed:.1f}s; record: {path}")


def print_seed_summary(name: str, records: list[dict]) -> None:
    if len(records) < 2:
        return
    from benchmark.stats import accuracy_estimate

    clean = accuracy_estimate([r["per_example"]["clean_correct"] for r in records])
    robust = accuracy_estimate([r["per_example"]["robust"] for r in records])
    print(f"  {name} over {len(records)} seeds: clean {100 * clean.mean:.1f} ± {100 * clean.sd:.1f}%, "
          f"robust {100 * robust.mean:.1f} ± {100 * robust.sd:.1f}% (mean ± sd over seeds; 95% interval "
          f"{robust.pct()}%)")


def committed_record(entry, seed: int, protocol, opts, where):
    """(record, path) of the committed record a fresh evaluation of published weights should
    reproduce, or (None, None) (sweep points and another n are not the protocol's record)."""
    from benchmark.results import read_record, record_path, results_root

    if where.weights not in ("auto", "published") or entry.published(seed) is None or opts.eps is not None \
            or opts.n is not None:
        return None, None
    path = record_path(results_root(entry, "published", where.results_dir), protocol.name, entry.name, seed)
    return (read_record(path), path) if path.is_file() else (None, None)


def reproduction_line(flips, rewritten: bool, yours=None) -> str:
    if flips.problem or flips.examples:
        if rewritten:
            note = " (committed record rewritten: `git diff results/` shows the change, `git checkout results/` undoes it)"
        else:
            note = f" (yours: {yours}; the committed record is unchanged)" if yours else ""
        return f"NOT reproduced: {flips.describe()}{note}"
    return f"reproduced: identical on all {flips.n} examples"


def evaluate_all(names, seeds_asked, protocol, opts, where, entries, reproduction: list | None = None,
                 n_parallel: int | None = None, seeds_by_entry: dict | None = None) -> dict[str, list[dict]]:
    """Evaluate every seed of every entry; bad input (protocol, data, seeds) is refused before any work.

    Published weights are compared example by example with their committed record, which
    is kept when reproduced and rewritten otherwise; the comparisons go into `reproduction`
    when a list is given. Several models are evaluated side by side (`n_parallel` processes,
    default: one per core), each with its share of the threads.
    """

    from benchmark.data import get_task
    from benchmark.distributed import context
    from benchmark.evaluation import load_protocol
    from benchmark.gate import compare_outcomes
    from benchmark.results import write_record

    protocol = load_protocol(protocol) if isinstance(protocol, str) else protocol
    plan = []
    for name in names:
        entry = entries[name]
        proto = protocol or load_protocol(entry.protocol)
        task = get_task(entry.task, relative_to=entry.folder)
        proto.check_task(task, name)
        if opts.eps is not None:
            proto.check_eps(opts.eps, task)
        if opts.n is not None and opts.n <= 0:
            raise BenchmarkError(f"--n must be positive, got {opts.n}")
        asked = seeds_by_entry.get(name) if seeds_by_entry else seeds_asked
        plan.append((entry, proto, available_seeds(entry, asked, where.weights, where.cache)))
    from benchmark.evaluation.pool import Job, default_jobs, evaluate_jobs

    jobs = [Job(entry.name, seed, proto) for entry, proto, seeds in plan for seed in seeds]
    n_jobs = default_jobs(len(jobs), opts.device) if n_parallel is None else n_parallel
    if n_jobs > 1:
        print(f"evaluating {len(jobs)} models, {n_jobs} side by side")
    done: dict[tuple[str, int], dict] = {}
    for job, record, path in evaluate_jobs(jobs, opts, where, n_jobs, entries):
        if not context().is_main:  # another rank under torchrun: rank 0 prints and writes
            continue
        entry = entries[job.name]
        reference, ref_path = committed_record(entry, job.seed, job.protocol, opts, where)
        flips = None
        rewritten = False
        if reference is not None:
            flips = compare_outcomes(reference, record)
            if where.update_records:  # maintainers: the committed record, rewritten only where it changed
                rewritten = bool(flips.problem or flips.examples) and where.write
                if rewritten:
                    write_record(record, ref_path)
                path = ref_path
            elif where.write:
                write_record(record, path)  # yours, under $RTB_HOME: the committed record stays as it is
        if reference is None and where.write:
            write_record(record, path)
        elif not where.write:
            path = None
        print_record(record, path, record["seconds"] + ((record.get("guards") or {}).get("seconds") or 0))
        if flips is not None:
            print(f"  committed record {ref_path}: {reproduction_line(flips, rewritten, path)}")
            if reproduction is not None:
                reproduction.append(flips)
        done[(job.name, job.seed)] = record
    out = {}
    for entry, _, seeds in plan:
        records = [done[(entry.name, s)] for s in seeds if (entry.name, s) in done]
        print_seed_summary(entry.name, records)
        out[entry.name] = records
    return out


def evaluate_corruptions_all(names, seeds_asked, protocol: str, opts, where, entries) -> dict[str, list[dict]]:
    """Every seed of every entry under a corruption protocol (benchmark.evaluation.corruptions); a model's
    published record is compared example by example with its committed one, as under the attack protocols."""
    import json

    from benchmark.data import get_task
    from benchmark.evaluation.corruptions import (corruption_record_path, evaluate_entry_corruptions,
                                                  load_corruption_protocol)
    from benchmark.evaluation import Locations
    from benchmark.results import results_root

    proto = load_corruption_protocol(protocol)
    plan = []
    for name in names:  # bad input is refused before any work
        entry = entries[name]
        proto.check_task(get_task(entry.task, relative_to=entry.folder), name)
        plan.append((entry, available_seeds(entry, seeds_asked, where.weights, where.cache)))
    out = {}
    for entry, seeds in plan:
        out[entry.name] = []
        for seed in seeds:
            record, path = evaluate_entry_corruptions(entry, seed, proto, opts, Locations(**{**where.__dict__,
                                                                                              "write": False}))
            committed = corruption_record_path(results_root(entry, record["weights"]["origin"], where.results_dir),
                                               proto.name, entry.name, seed)
            note = ""
            if committed.is_file():
                old = json.loads(committed.read_text())
                joined = lambda v: v if isinstance(v, str) else "".join(v)  # noqa: E731
                keys = [k for k in record["per_example"] if k != "index"]
                if old.get("protocol") == record["protocol"] and old["per_example"]["index"] == \
                        record["per_example"]["index"]:
                    flips = sum(a != b for k in keys for a, b in zip(joined(old["per_example"].get(k, "")),
                                                                      joined(record["per_example"][k])))
                    note = (f"  committed record {committed}: "
                            + ("reproduced exactly" if flips == 0 else f"{flips} outcomes differ"))
            if where.write:
                from benchmark.results import write_record

                write_record(record, path)
            print(f"{entry.name} seed {seed}: clean {100 * record['clean_accuracy']:.1f}%, corruptions "
                  f"{100 * record['corruption_accuracy']:.1f}% (severities "
                  f"{', '.join(f'{100 * v:.1f}' for v in record['per_severity'])}) in {record['seconds']:.1f}s"
                  + (f" -> {path}" if where.write else ""), flush=True)
            if note:
                print(note)
            out[entry.name].append(record)
    return out


def cmd_evaluate(args) -> int:
    from benchmark.distributed import setup
    from benchmark.evaluation import Locations
    from benchmark.zoo import load_entries

    opts = eval_options(args, n=args.n, eps=args.eps,
                        cascade=None if args.cascade is None else args.cascade == "on",
                        keep_adversarial=args.save_adversarial, resume=not args.no_resume)
    setup(opts.device)
    entries = load_entries()
    where = Locations(args.weights, args.cache_dir, args.data_dir, args.results_dir,
                      update_records=args.update_records)
    names = overridden(args, entries, selected_models(args, entries))
    from benchmark.evaluation.corruptions import is_corruption_protocol

    if is_corruption_protocol(args.protocol):
        evaluate_corruptions_all(names, args.seed, args.protocol, opts, where, entries)
        return 0
    if args.dry_run or any("paper" in entries[n].suites for n in names):
        from benchmark.evaluation import load_protocol
        from benchmark.perf.projection import evaluation_projection

        print(f"plan ({'dry run: nothing is evaluated' if args.dry_run else 'measured before starting'}):")
        for n in names:
            proto = load_protocol(args.protocol or entries[n].protocol)
            print(f"  {evaluation_projection(entries[n], proto, opts.device, args.n).describe()}", flush=True)
        if args.dry_run:
            return 0
    evaluate_all(names, args.seed, args.protocol, opts, where, entries,
                 n_parallel=1 if args.override else args.jobs)  # derived entries live in this process
    return 0


def add_parsers(sub) -> None:
    p = sub.add_parser("evaluate", help="attack zoo entries under a protocol (every seed) and record the results")
    add_models(p, required=True)
    p.add_argument("--protocol", default=None, help="protocol name or YAML file (default: the entry's)")
    p.add_argument("--n", type=int, default=None, help="evaluation examples (default: the protocol's)")
    p.add_argument("--eps", type=float, default=None, help="override the protocol's eps (sweeps)")
    p.add_argument("--cascade", choices=["on", "off"], default=None,
                   help="off: every attack on every example (per-attack robust accuracy)")
    p.add_argument("--weights", default="auto",
                   help="auto (published when the entry has them, else trained), published, trained (your copy "
                        "in the cache), or a weights file")
    p.add_argument("--save-adversarial", action="store_true",
                   help="keep the input that broke each broken example beside the record (seed<k>.adv.npz), "
                        "for `python -m benchmark verify RECORD`")
    p.add_argument("--no-resume", action="store_true",
                   help="start again instead of continuing an interrupted evaluation of the same record")
    p.add_argument("--dry-run", action="store_true",
                   help="print the projected time (measured on this device) of each evaluation and stop")
    add_update_records(p)
    add_override(p)
    add_eval_options(p)
    add_common(p)
    p.set_defaults(func=cmd_evaluate)
    add_trajectory_parser(sub)


def cmd_trajectory(args) -> int:
    from benchmark.evaluation import Locations
    from benchmark.trajectory import trajectory_entry
    from benchmark.zoo import load_entries

    opts = eval_options(args, n=args.n)
    entries = load_entries()
    where = Locations(cache=args.cache_dir, data_dir=args.data_dir, results_dir=args.results_dir,
                      update_records=args.update_records)
    names = selected_models(args, entries)
    for name in names:
        entry = entries[name]
        for seed in (args.seed if args.seed is not None else entry.seeds):
            record, path = trajectory_entry(entry, seed, args.fractions, args.protocol, opts, where, entries)
            stop = record["early_stop"]
            line = ", ".join(f"{p['fraction']:g}: {100 * p['robust_accuracy']:.1f}/{100 * p['clean_accuracy']:.1f}"
                             for p in record["points"])
            print(f"{name} seed {seed}: robust/clean % at each fraction of training {line}; early stopping on "
                  f"validation picks {stop['fraction']:g} (robust {100 * stop['robust_accuracy']:.1f}%) -> {path}",
                  flush=True)
    return 0


def add_trajectory_parser(sub) -> None:
    from benchmark.trajectory import DEFAULT_FRACTIONS

    p = sub.add_parser("trajectory", help="robustness along fine-tuning: train again with snapshots at fractions of "
                                          "the run, evaluate each under a protocol")
    add_models(p, required=True)
    p.add_argument("--fractions", type=float, nargs="+", default=list(DEFAULT_FRACTIONS),
                   help=f"fractions of the run's batches (default: {' '.join(f'{f:g}' for f in DEFAULT_FRACTIONS)})")
    p.add_argument("--protocol", default=None, help="protocol name or YAML file (default: the entry's)")
    p.add_argument("--n", type=int, default=None, help="evaluation examples (default: the protocol's)")
    add_update_records(p)
    add_eval_options(p)
    add_common(p)
    p.set_defaults(func=cmd_trajectory)
