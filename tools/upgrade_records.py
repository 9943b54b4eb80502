"""Carry the project's committed records to the current version of their protocol where only the guards
changed (benchmark/evaluation/upgrade.py): the guards re-run and counted, the battery carried over.

    python tools/upgrade_records.py --protocol fmnist-linf-quick [--model fmnist_linear ...] [--check]

A maintainers' tool: it rewrites records under results/. Records already at the current version are left
alone; one that cannot be upgraded (another battery, eps or subset) is named, to be evaluated again. The
evaluation gate (`python -m benchmark check`) re-runs records from scratch and compares them example by example.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main(argv=None) -> int:
    from benchmark.errors import BenchmarkError
    from benchmark.evaluation import load_protocol
    from benchmark.evaluation.upgrade import upgrade_record
    from benchmark.paths import project_results_dir
    from benchmark.results import write_record

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--protocol", required=True)
    p.add_argument("--model", nargs="+", help="entries (default: every one with records under the protocol)")
    p.add_argument("--results-dir", default=None)
    args = p.parse_args(argv)
    protocol = load_protocol(args.protocol)
    root = Path(args.results_dir) if args.results_dir else project_results_dir()
    folders = [root / protocol.name / m for m in args.model] if args.model else \
        sorted(d for d in (root / protocol.name).iterdir() if d.is_dir() and d.name != "sweeps")
    failed = done = kept = 0
    for folder in folders:
        for path in sorted(folder.glob("seed*.json")):
            if json.loads(path.read_text()).get("protocol", {}).get("version") == protocol.version:
                kept += 1
                continue
            t0 = time.perf_counter()
            try:
                record = upgrade_record(path, protocol)
            except BenchmarkError as exc:
                print(f"error: {exc}", file=sys.stderr)
                failed += 1
                continue
            write_record(record, path)
            done += 1
            c = record["guards"]["counted"]
            print(f"{path.relative_to(root)}: v{record['regenerated']['from_version']} -> v{protocol.version}, robust "
                  f"{100 * record['robust_accuracy_battery']:.1f}% -> {100 * record['robust_accuracy']:.1f}% "
                  f"({sum(x['broke_battery_robust'] for x in c)} more broken by the guards' attacks; "
                  f"{time.perf_counter() - t0:.1f}s)", flush=True)
    print(f"{done} upgraded, {kept} already at v{protocol.version}, {failed} to evaluate again")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
