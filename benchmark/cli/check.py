"""`check`: the regression gate (see benchmark.gate). Without --train it re-evaluates the
published weights and compares every example with the committed records; with --train it
retrains from the recipes and checks each metric against the committed seeds' band."""

from __future__ import annotations

import sys
import tempfile
from dataclasses import replace

from benchmark.cli.common import add_common, add_eval_options, eval_options, selected_models, train_options
from benchmark.cores import threads_per_job
from benchmark.errors import BenchmarkError

PROJECT_PROTOCOL = "fmnist-linf-quick"  # the protocol of the project's committed records, which its gates compare


def _references(entry, protocol, results_dir):
    from benchmark.results import read_record, record_path, results_root

    refs = {}
    for seed in entry.seeds:
        path = record_path(results_root(entry, "published", results_dir), protocol.name, entry.name, seed)
        if path.is_file():
            refs[seed] = read_record(path)
    return refs


def evaluation_gate(names, entries, protocol, opts, args) -> list[str]:
    from benchmark.evaluation import Locations
    from benchmark.evaluation.pool import Job, default_jobs, evaluate_jobs
    from benchmark.gate import allowed_flips, compare_outcomes

    problems, jobs, refs = [], [], {}
    for name in names:
        entry = entries[name]
        refs[name] = _references(entry, protocol, args.results_dir)
        for seed in [s for s in (args.seed or entry.seeds) if entry.published(s) is not None]:
            if seed not in refs[name]:
                problems.append(f"{name} seed {seed}: no committed record under {protocol.name}; evaluate it first")
                continue
            jobs.append(Job(name, seed, protocol))
    if not jobs and not problems:
        raise BenchmarkError(nothing_published(names, entries, protocol))
    n_jobs = default_jobs(len(jobs), opts.device) if args.jobs is None else args.jobs
    where = Locations("published", args.cache_dir, args.data_dir, write=False)
    checked = 0
    for job, fresh, _ in evaluate_jobs(jobs, opts, where, n_jobs, entries):
        reference = refs[job.name][job.seed]
        flips = compare_outcomes(reference, fresh)
        allowed = allowed_flips(reference, fresh)
        ok = not flips.problem and len(flips.examples) <= allowed
        checked += 1
        print(("ok   " if ok else "FAIL ") + flips.describe() + (f" (allowed on this machine: {allowed})"
                                                                 if flips.examples else ""), flush=True)
        if not ok:
            problems.append(flips.describe())
    print(f"evaluation gate: {checked} published models compared example by example, {len(problems)} failed")
    return problems


def nothing_published(names, entries, protocol) -> str:
    """The one-line error of a gate with nothing to compare, saying what to publish."""
    name = names[0]
    seed = entries[name].seeds[0]
    return (f"nothing to compare: {', '.join(names[:3])}{' ...' if len(names) > 3 else ''} "
            f"{'has' if len(names) == 1 else 'have'} no published weights with a record under {protocol.name}; "
            f"publish and record them first (`python -m benchmark train --model {name} --seed {seed} --publish`, then "
            f"`python -m benchmark evaluate --model {name} --seed {seed} --weights published --protocol "
            f"{protocol.name}`) and keep the weights and records with your code")


def gate_protocol(args, names, entries):
    """--protocol, else the study's, else the protocol the first entry's records were made under (read from a
    record when it is a file of the user's, not one of the benchmark's protocols)."""
    from benchmark.evaluation import available_protocols, load_protocol, parse_protocol
    from benchmark.results import read_record, results_root

    if args.protocol:
        return load_protocol(args.protocol)
    if getattr(args, "study", None):
        from benchmark.studies import load_study
        from benchmark.studies.jobs import protocol_ref

        return load_protocol(protocol_ref(load_study(args.study)))
    entry = entries[names[0]]
    if entry.origin == "project":
        return load_protocol(PROJECT_PROTOCOL)
    root = results_root(entry, "published", args.results_dir)
    found = sorted(root.glob(f"*/{entry.name}/seed*.json"))
    protocols = [p.parent.parent.name for p in found]
    if not found or entry.protocol in protocols:
        return load_protocol(entry.protocol)
    known = [p for p in protocols if p in available_protocols()]
    if known:
        return load_protocol(known[0])
    return parse_protocol(read_record(found[0])["protocol"], str(found[0]))


def _retrain(name: str, seed: int, topts, protocol, opts, data_dir, scratch: str,
             entries=None) -> tuple[str, int, dict, dict]:
    """Train seed `seed` of `name` from its recipe into `scratch` and evaluate it there (no guards)."""
    from benchmark.evaluation import Locations, evaluate_entry
    from benchmark.training import train_entry
    from benchmark.zoo import load_entries

    entries = entries or load_entries()
    rec = train_entry(entries[name], seed, topts, entries=entries)
    fresh, _ = evaluate_entry(entries[name], seed, protocol, opts, Locations("trained", scratch, data_dir, write=False))
    return name, seed, rec, fresh


def training_gate(names, entries, protocol, opts, args) -> list[str]:
    """Each entry retrained from its recipe, its metrics against the committed seeds' band. On a CPU the
    retrainings run side by side, one process and one thread each, the longest first: the ci suite's six took
    16.2 min that way against 18.6 min one after the other on two threads (2-core machine, 2026-12-07)."""
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    from benchmark.evaluation.pool import _init, default_jobs
    from benchmark.gate import band_check

    problems, work, refs = [], [], {}
    for name in names:
        refs[name] = _references(entries[name], protocol, args.results_dir)
        if not refs[name]:
            problems.append(f"{name}: no committed records under {protocol.name} to compare with")
            continue
        work += [(name, seed) for seed in args.seed or entries[name].seeds[:1]]
    # the longest first, so the last to start is short: trainings from scratch, adversarial ones above all
    work.sort(key=lambda w: (entries[w[0]].source is not None,
                             not entries[w[0]].make_strategy(entries[w[0]].parsed_recipe()).adversarial))
    n_jobs = default_jobs(len(work), opts.device) if args.jobs is None else args.jobs

    def report(name, seed, rec, fresh):
        found = band_check(list(refs[name].values()), fresh)
        committed = ", ".join(f"{100 * r['robust_accuracy']:.1f}" for r in refs[name].values())
        print(f"{'FAIL' if found else 'ok  '} {name} retrained seed {seed} in {rec['wall_seconds']:.0f}s: clean "
              f"{100 * fresh['clean_accuracy']:.1f}%, robust {100 * fresh['robust_accuracy']:.1f}% "
              f"(committed seeds: robust {committed}%)", flush=True)
        problems.extend(found)

    with tempfile.TemporaryDirectory(prefix="rtb-train-gate-") as scratch:
        topts = train_options(args, cache=scratch, resume=False, source_weights="published")
        ev = replace(opts, guards=False)
        if n_jobs <= 1:
            for name, seed in work:
                report(*_retrain(name, seed, topts, protocol, ev, args.data_dir, scratch, entries))
        else:
            threads = threads_per_job(n_jobs)
            topts, ev = replace(topts, show_progress=False), replace(ev, show_progress=False)
            with ProcessPoolExecutor(n_jobs, mp_context=multiprocessing.get_context("spawn"), initializer=_init,
                                     initargs=(threads,)) as pool:
                pending = {pool.submit(_retrain, name, seed, topts, protocol, ev, args.data_dir, scratch)
                           for name, seed in work}
                while pending:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        report(*future.result())
    print(f"training gate: {len(names)} entries retrained, {len(problems)} metrics outside their band")
    return problems


def cmd_check(args) -> int:
    from benchmark.distributed import setup
    from benchmark.zoo import load_entries

    opts = eval_options(args)
    setup(opts.device)
    entries = load_entries()
    if args.study:
        from benchmark.studies import expand, load_study, write_entries

        study = load_study(args.study)
        write_entries(study)  # the entry files as the study makes them (a no-op when nothing changed)
        entries = load_entries()
        args.model = args.model or [p.name for p in expand(study)]
    if args.model:
        args.suite = None
    names = selected_models(args, entries)
    protocol = gate_protocol(args, names, entries)
    gate = training_gate if args.train else evaluation_gate
    problems = gate(names, entries, protocol, opts, args)
    for line in problems:
        print(line, file=sys.stderr)
    if not names:
        raise BenchmarkError("nothing to check")
    return 1 if problems else 0


def add_parsers(sub) -> None:
    p = sub.add_parser("check", help="regression gate: published weights example by example, or retrained "
                                     "weights against the committed seed band (--train)")
    p.add_argument("--model", nargs="+", default=None, help="zoo entries (yours too: their weights published into "
                                                            "your folder, their records in your results)")
    p.add_argument("--suite", default="ci")
    p.add_argument("--study", default=None, help="every entry of a study (name or file)")
    p.add_argument("--seed", type=int, nargs="+", default=None, help="seeds to check (default: every published seed; --train: the first)")
    p.add_argument("--protocol", default=None, help=f"default: the study's; for the project's entries "
                                                     f"{PROJECT_PROTOCOL}; for yours the one their records were made under")
    p.add_argument("--train", action="store_true", help="retrain from the recipes (statistical gate)")
    add_eval_options(p)
    add_common(p)
    p.set_defaults(func=cmd_check)
