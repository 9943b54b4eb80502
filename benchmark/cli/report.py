"""`report`: the leaderboard, plots and claim verdicts from the records."""

from __future__ import annotations


def cmd_report(args) -> int:
    from benchmark.paths import project_results_dir, user_reports_dir, user_results_dir
    from benchmark.reports import build_report

    roots = [args.results_dir] if args.results_dir else [project_results_dir()]
    out = args.reports_dir
    if args.with_user:
        roots.append(user_results_dir())
        out = out or user_reports_dir()  # the project's reports/ stay the project's own
    path = build_report(roots, out)
    print(f"wrote {path} and its plots")
    return 0


def add_parsers(sub) -> None:
    p = sub.add_parser("report", help="write the leaderboard, plots and claims from the records")
    p.add_argument("--results-dir", default=None, help="records to read (default: results/)")
    p.add_argument("--reports-dir", default=None, help="where to write (default: reports/)")
    p.add_argument("--with-user", action="store_true",
                   help="include your own entries' records (written to your reports folder unless --reports-dir)")
    p.set_defaults(func=cmd_report)
