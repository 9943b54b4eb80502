"""`study`: the benchmark's experiment as a data file, planned, run (here or on Slurm) and reported.

    python -m benchmark study plan STUDY [--json]      # every job left, with its projected time here
    python -m benchmark study run STUDY [--executor slurm --partition gpu --gpus-per-job 1]
    python -m benchmark study report STUDY             # data-size plot, crossover table, claims, page
    python -m benchmark study entries STUDY [--check]  # write (or check) the entry files it makes
    python -m benchmark study --data FOLDER --source fmnist_src_robust   # a default study of your folder
    python -m benchmark study plan --data FOLDER --source fmnist_src_robust   # its jobs first, then `study run --data`
"""

from __future__ import annotations

import json

from benchmark.cli.common import check_device
from benchmark.errors import BenchmarkError

ACTIONS = ("plan", "run", "report", "entries")


def _lanes(args) -> int:
    from benchmark.studies.executors import default_lanes

    return args.lanes or default_lanes(args.device)


def _scope(args):
    from benchmark.studies.jobs import Scope

    return Scope(override=args.override, match=args.match, data_dir=args.data_dir, n_examples=args.n,
                 guards=not args.no_guards, update_records=getattr(args, "update_records", False))


def cmd_plan(study, args) -> int:
    from benchmark.studies.jobs import describe, plan_study

    plan = plan_study(study, args.device, args.protocol, project=not args.no_measure, seeds=args.seed,
                      scope=_scope(args))
    if args.json:
        print(json.dumps(plan.to_json(_lanes(args)), indent=1))
    else:
        print("\n".join(describe(plan, _lanes(args))), flush=True)
    return 0


def cmd_run(study, args) -> int:
    from benchmark.studies.executors import SlurmOptions, run_study
    from benchmark.studies.jobs import describe, plan_study

    if study.origin == "project" and not args.override and not args.update_records:
        raise BenchmarkError(f"study {study.name} is the project's: its jobs publish weights, tunings and records into "
                             "the checkout (maintainers: pass --update-records). To run it as yours, copy "
                             f"{study.path} into $RTB_HOME/studies/ with another `name` and `names`, or rehearse it "
                             "with --override (everything stays in your folder)")

    if args.executor == "local" or not args.no_wait:
        plan = plan_study(study, args.device, args.protocol, project=not args.no_measure, seeds=args.seed,
                          scope=_scope(args))
        print("\n".join(describe(plan, _lanes(args))), flush=True)
    slurm = SlurmOptions(partition=args.partition, gpus_per_job=args.gpus_per_job, cpus_per_job=args.cpus_per_job,
                         time_min=args.time_min, mem_gb=args.mem_gb, account=args.account, wait=not args.no_wait)
    result = run_study(study, args.executor, args.device, args.lanes, args.protocol, args.seed, slurm, args.max_jobs,
                       _scope(args))
    print("\n".join(result.summary()), flush=True)
    if args.report and not result.failed:
        cmd_report(study, args)
    return 1 if result.failed or result.blocked else 0


def cmd_report(study, args) -> int:
    from benchmark.studies.report import report_study

    out = report_study(study, args.out, args.override, args.protocol)
    print(f"report of study {study.name}: {out}")
    return 0


def cmd_entries(study, args) -> int:
    from benchmark.studies import expand, write_entries
    from benchmark.studies.catalog import entry_text, validate, zoo_dir_of

    planned = expand(study)
    validate(study, planned)
    folder = zoo_dir_of(study)
    differ = [p.name for p in planned if not (folder / f"{p.name}.yaml").is_file()
              or (folder / f"{p.name}.yaml").read_text() != entry_text(p)]
    if args.check:
        print(f"study {study.name}: {len(planned)} entries, {len(differ)} differ from their files in {folder}"
              + (f": {', '.join(differ)}" if differ else ""))
        return 1 if differ else 0
    written = write_entries(study, planned)
    print(f"study {study.name}: {len(planned)} entries, wrote {len(written)} into {folder}"
          + (f": {', '.join(written)}" if written else ""))
    return 0


def cmd_folder(args) -> int:
    """A default study of the user's folder: written (once), then planned (`study plan --data`), run (`study run
    --data`, or no action: run and reported in one command) or reported, as a study file's would be."""
    study = folder_study(args)
    if args.action == "plan":
        return cmd_plan(study, args)
    if args.action == "report":
        return cmd_report(study, args)
    if args.action == "entries":
        return cmd_entries(study, args)
    args.report = args.report or args.action is None
    return cmd_run(study, args)


def folder_study(args):
    """The default study of `--data FOLDER`: yours in $RTB_HOME/studies once written (a plan then runs as shown)."""
    import yaml

    from benchmark.io import atomic_write_text
    from benchmark.paths import user_studies_dir
    from benchmark.studies import load_study
    from benchmark.studies.defaults import default_study

    if not args.source:
        raise BenchmarkError("study --data FOLDER needs --source: the zoo entry to transfer from "
                             "(e.g. fmnist_src_robust; `python -m benchmark zoo list`)")
    data = default_study(args.data, args.source, args.name, args.seeds, _sizes(args.sizes), args.arms, args.protocol,
                         tune=not args.no_tuning)
    path = user_studies_dir() / f"{data['name']}.yaml"
    if path.is_file() and not args.overwrite:
        print(f"using your study {path} (written earlier; --overwrite writes the default again)")
    else:
        atomic_write_text(path, "# written by `python -m benchmark study --data`: edit it and run it again\n"
                          + yaml.safe_dump(data, sort_keys=False, width=110))
        print(f"wrote the study {path}")
    return load_study(path)


def _sizes(values):
    if not values:
        return None
    out = []
    for v in values:
        if v == "all":
            out.append(v)
            continue
        try:
            n = int(v)
        except ValueError:
            raise BenchmarkError(f"--sizes {v}: give examples per class (positive integers) or 'all'") from None
        if n <= 0:
            raise BenchmarkError(f"--sizes {v}: give examples per class (positive integers) or 'all'")
        out.append(n)
    return out


def cmd_study(args) -> int:
    from benchmark.studies import load_study

    args.device = check_device(args.device)
    if args.data:
        if args.study:
            raise BenchmarkError("study --data FOLDER makes its own study: leave out the study name (`study plan --data "
                                 "FOLDER --source SRC` shows its jobs, `study run --data ...` runs them)")
        return cmd_folder(args)
    if not args.action or not args.study:
        raise BenchmarkError(f"name an action and a study: python -m benchmark study {{{','.join(ACTIONS)}}} STUDY "
                             "(or study --data FOLDER --source SOURCE)")
    study = load_study(args.study)
    return {"plan": cmd_plan, "run": cmd_run, "report": cmd_report, "entries": cmd_entries}[args.action](study, args)


def add_parsers(sub) -> None:
    p = sub.add_parser("study", help="plan, run (here or on Slurm) and report a study: arms x data sizes x seeds as a "
                                     "data file")
    p.add_argument("action", nargs="?", choices=ACTIONS)
    p.add_argument("study", nargs="?", help="a study name (studies/, or yours in $RTB_HOME/studies) or a study file")
    p.add_argument("--json", action="store_true", help="plan: print the jobs as JSON")
    p.add_argument("--check", action="store_true", help="entries: only say which entry files would change")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    p.add_argument("--protocol", default=None, help="evaluate under this protocol instead of the study's")
    p.add_argument("--seed", type=int, nargs="+", default=None, help="only these seeds")
    p.add_argument("--match", default=None, metavar="REGEX", help="only the entries whose names match (and the sources "
                                                                  "they need)")
    p.add_argument("--override", nargs="+", metavar="KEY=VALUE", default=None,
                   help="a rehearsal at toy size (architecture=NAME n_per_class=N epochs=N batch_size=N): derived "
                        "entries NAME@TAG trained into your cache and evaluated into your results, never published")
    p.add_argument("--data-dir", default=None, help="where the datasets live (default: each task's own)")
    p.add_argument("--n", type=int, default=None, help="evaluation examples (default: the protocol's)")
    p.add_argument("--no-guards", action="store_true", help="evaluations skip the gradient-masking guards (for a "
                                                            "rehearsal; a study's records should keep them)")
    p.add_argument("--lanes", type=int, default=None,
                   help="local: jobs side by side (default: one per CPU core with one thread each, or one per GPU)")
    p.add_argument("--no-measure", action="store_true", help="plan without measuring this device's rates")
    p.add_argument("--max-jobs", type=int, default=0, help="run: stop after starting this many jobs")
    p.add_argument("--report", action="store_true", help="run: write the study's report when every job succeeded")
    p.add_argument("--update-records", action="store_true",
                   help="run a project study (maintainers): its tunings, weights and records go into the checkout")
    p.add_argument("--out", default=None, help="report: where to write (default: $RTB_HOME/studies/STUDY/report)")
    slurm = p.add_argument_group("executor")
    slurm.add_argument("--executor", default="local", choices=["local", "slurm"])
    slurm.add_argument("--partition", default=None)
    slurm.add_argument("--gpus-per-job", type=int, default=0)
    slurm.add_argument("--cpus-per-job", type=int, default=1)
    slurm.add_argument("--time-min", type=int, default=240, help="each Slurm job's time limit in minutes (requeued "
                                                                  "and resumed when it runs out)")
    slurm.add_argument("--mem-gb", type=float, default=None)
    slurm.add_argument("--account", default=None)
    slurm.add_argument("--no-wait", action="store_true", help="slurm: submit and return")
    folder = p.add_argument_group("a study of your folder (study --data FOLDER --source SOURCE)")
    folder.add_argument("--data", default=None, help="folder with train/<class>/* and val/<class>/* (or test/) images")
    folder.add_argument("--source", default=None, help="the zoo entry to transfer from")
    folder.add_argument("--name", default=None, help="the study's name (default: the folder's)")
    folder.add_argument("--seeds", type=int, default=3, help="seeds per arm and size (default 3)")
    folder.add_argument("--sizes", nargs="+", default=None,
                        help="examples per class (and 'all'; default: 10 25 50 100 250 all, those the folder allows)")
    folder.add_argument("--arms", nargs="+", default=None,
                        help="linear finetune lwf adv_finetune adv_scratch (default: all five)")
    folder.add_argument("--no-tuning", action="store_true", help="train each arm's default recipe, no tuning budget")
    folder.add_argument("--overwrite", action="store_true", help="write the default study again over yours")
    p.set_defaults(func=cmd_study)

