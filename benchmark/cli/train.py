"""`train`, `tune` and `publish`: make an entry's weights from its recipe, select its recipe on
validation data, and publish trained weights into the project."""

from __future__ import annotations

import time

from benchmark.cli.common import (add_common, add_models, add_override, add_update_records, overridden, selected_models,
                                  train_options)
from benchmark.errors import BenchmarkError


def ensure_sources(name: str, seed: int, entries, opts) -> None:
    """Train what `name` seed `seed` transfers from, when it has neither published nor trained weights."""
    from benchmark.training import train_entry
    from benchmark.zoo import has_weights

    from benchmark.zoo.entry import source_seed

    src = entries[name].source
    if not src:
        return
    seed = source_seed(entries[src], seed)
    ensure_sources(src, seed, entries, opts)
    if not has_weights(entries[src], seed, opts.source_weights, opts.cache):
        report(train_entry(entries[src], seed, opts, entries=entries))


def report(rec) -> None:
    if rec is None:  # another rank under torchrun: rank 0 reports
        return
    last = rec["history"][-1] if rec["history"] else {}
    print(f"{rec['model']} seed {rec['seed']}: {rec['epochs']} epochs on {rec['n_train']} examples in "
          f"{rec['wall_seconds']:.1f}s, cost {rec['cost']['fb_passes']:.3g} fwd+bwd passes, "
          f"train acc {last.get('train_accuracy', 0):.3f}")


def print_training_plan(names, entries, args, opts) -> None:
    """What `train` is about to do, sources first, each with its projected time and sizes (measured here)."""
    from benchmark.perf.projection import training_projection
    from benchmark.zoo import check_seeds, dependency_order, has_weights

    todo = [n for n in dependency_order(names, entries)
            if n in names or any(not has_weights(entries[n], s, opts.source_weights, opts.cache)
                                 for s in check_seeds(entries[n], None))]
    print(f"plan ({'dry run: nothing is trained' if args.dry_run else 'measured before starting'}):")
    for name in todo:
        print(f"  {training_projection(entries[name], opts.device).describe()}", flush=True)


def cmd_train(args) -> int:
    from benchmark.distributed import setup
    from benchmark.training import train_entry
    from benchmark.zoo import check_seeds, dependency_order, has_weights, load_entries

    opts = train_options(args, channels_last=not args.no_channels_last, workers=args.workers,
                         source_weights=args.source_weights)
    setup(opts.device)
    entries = load_entries()
    names = overridden(args, entries, selected_models(args, entries))
    if args.dry_run or any("paper" in entries[n].suites for n in names):
        print_training_plan(names, entries, args, opts)
        if args.dry_run:
            return 0
    t0 = time.perf_counter()
    count = 0
    for name in [n for n in dependency_order(names, entries) if n in names]:  # asked-for sources first
        entry = entries[name]
        for seed in check_seeds(entry, args.seed):
            ensure_sources(name, seed, entries, opts)
            if has_weights(entry, seed, "trained", opts.cache) and not args.force:
                print(f"{name} seed {seed}: already trained, skipping (use --force to retrain)")
                if not (args.publish and entry.published(seed) is None):  # a run stopped before publishing
                    continue
            else:
                report(train_entry(entry, seed, opts, entries=entries))
                count += 1
            if args.publish:
                from benchmark.zoo.publish import publish

                entries[name] = publish(entries[name], [seed], opts.cache, entries)
                print(f"{name} seed {seed}: published")
    print(f"trained {count} model(s) in {time.perf_counter() - t0:.1f}s")
    return 0


def cmd_tune(args) -> int:
    from benchmark.tuning import tune_entry
    from benchmark.zoo import load_entries

    opts = train_options(args)
    entries = load_entries()
    for name in selected_models(args, entries):
        entry = entries[name]
        if entry.tuning is None:
            if args.suite:
                continue
            raise BenchmarkError(f"{name} has no tuning budget (`tuning.grid`) in {entry.path}")
        if entry.origin == "project" and not args.update_records:
            raise BenchmarkError(f"{name} is a project entry: tuning it rewrites {entry.path} and results/tuning/ in the "
                                 "checkout (maintainers: pass --update-records; to tune your own copy, put an entry "
                                 "of another name in your zoo folder, $RTB_HOME/entries)")
        if entry.tuning.selected is not None and not args.force:
            print(f"{name}: already tuned ({entry.tuning.selected}); use --force to tune again")
            continue
        for seed in entry.seeds[:entry.tuning.seeds]:
            ensure_sources(name, seed, entries, opts)
        t0 = time.perf_counter()
        rec = tune_entry(entry, opts, entries=entries)
        best = next(c for c in rec["configs"] if c["values"] == rec["selected"])
        print(f"{name}: selected {rec['selected']} of {rec['budget']} configurations (validation clean "
              f"{100 * best['clean']:.1f}%, robust {100 * best['robust']:.1f}%) in {time.perf_counter() - t0:.0f}s")
        if args.study:  # the entries that take this selection (sizes that are not tuned, `like` arms) get it now
            from benchmark.studies import load_study, write_entries

            written = write_entries(load_study(args.study))
            if written:
                print(f"study {args.study}: rewrote {len(written)} entries that take this selection")
        entries = load_entries()
    return 0


def cmd_publish(args) -> int:
    from benchmark.zoo import check_seeds, dependency_order, load_entries
    from benchmark.zoo.publish import publish

    entries = load_entries()
    names = selected_models(args, entries)
    for name in dependency_order(names, entries):
        if name not in names:
            continue
        entry = entries[name]
        seeds = check_seeds(entry, args.seed)
        entries[name] = publish(entry, seeds, args.cache_dir, entries)
        print(f"{name}: published seeds {seeds} into {entry.folder / 'weights' / name}")
    return 0


def add_parsers(sub) -> None:
    p = sub.add_parser("train", help="train zoo entries from their recipes (sources first), into the cache")
    add_models(p, required=True)
    p.add_argument("--force", action="store_true", help="retrain even if trained weights exist in the cache")
    p.add_argument("--no-resume", action="store_true", help="ignore an existing checkpoint")
    p.add_argument("--no-channels-last", action="store_true", help="train in the NCHW layout")
    p.add_argument("--workers", type=int, default=None, help="DataLoader workers for streamed image folders")
    p.add_argument("--publish", action="store_true", help="publish the weights into the project after training")
    p.add_argument("--source-weights", default="auto", choices=["auto", "published", "trained"],
                   help="which weights of a transfer's source to start from (auto: published when it has them)")
    p.add_argument("--dry-run", action="store_true",
                   help="print the projected time (measured on this device in a few steps), disk and download sizes "
                        "of each training, sources first, and stop")
    add_override(p)
    add_common(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("tune", help="select each entry's recipe from its tuning grid on validation data")
    add_models(p, required=True)
    p.add_argument("--force", action="store_true", help="tune again even if a selection exists")
    p.add_argument("--study", default=None, help="a study (name or file) whose entries to rewrite after tuning, so "
                                                  "that sizes inheriting this selection get it")
    add_update_records(p)
    add_common(p)
    p.set_defaults(func=cmd_tune)

    p = sub.add_parser("publish", help="copy trained weights into the project and pin their sha256 in the entry")
    add_models(p, required=True)
    add_common(p, data=False)
    p.set_defaults(func=cmd_publish)
