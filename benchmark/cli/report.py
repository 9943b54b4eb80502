"""`report`: the leaderboard, plots and claim verdicts from the records."""

from __future__ import annotations


def cmd_report(args) -> int:
    from benchmark.paths import project_results_dir, user_reports_dir, user_results_dir
    from benchmark.reports import build_report

    from benchmark.paths import project_reports_dir

    roots = [args.results_dir] if args.results_dir else [project_results_dir()]
    out = args.reports_dir or (project_reports_dir() if args.update_records else user_reports_dir())
    if args.with_user:
        if args.update_records and not args.reports_dir:
            from benchmark.errors import BenchmarkError

            raise BenchmarkError("--with-user puts your own records beside the committed ones: not into the project's "
                                 "reports/ (leave out --update-records, or give --reports-dir)")
        roots.append(user_results_dir())
    path = build_report(roots, out)
    print(f"wrote {path} and its plots")
    return 0


def add_parsers(sub) -> None:
    p = sub.add_parser("report", help="write the leaderboard, plots and claims from the records")
    p.add_argument("--results-dir", default=None, help="records to read (default: results/)")
    p.add_argument("--reports-dir", default=None,
                   help="where to write (default: your folder, $RTB_HOME/reports; reports/ with --update-records)")
    p.add_argument("--with-user", action="store_true", help="include your own entries' records")
    p.add_argument("--update-records", action="store_true",
                   help="maintainers: regenerate the project's reports/ from the committed records")
    p.set_defaults(func=cmd_report)
