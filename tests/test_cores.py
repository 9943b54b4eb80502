"""Lanes, pools and threads are sized from the cores this process may use, not from the machine's count."""

import os
import subprocess
import sys

import pytest

from benchmark import cores
from benchmark.cores import quota_cores, usable_cores


def test_a_cgroup_quota_rounds_up_and_no_quota_is_none():
    assert quota_cores("200000", "100000") == 2
    assert quota_cores("150000", "100000") == 2     # 1.5 cores: two threads may run
    assert quota_cores("50000", "100000") == 1
    assert quota_cores("max", "100000") is None     # cgroup v2, no quota
    assert quota_cores("-1\n", "100000\n") is None  # cgroup v1, no quota


def test_a_quota_below_the_affinity_caps_the_cores(monkeypatch, tmp_path):
    quota = tmp_path / "cpu.max"
    quota.write_text("100000 100000\n")
    monkeypatch.setattr(cores, "_CGROUP_V2", quota)
    assert usable_cores() == 1
    quota.write_text("max 100000\n")
    assert usable_cores() == len(os.sched_getaffinity(0))


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no CPU affinity on this platform")
def test_a_process_held_to_one_core_sizes_its_threads_and_lanes_for_one():
    code = ("import os; os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]}); "
            "from benchmark.cores import usable_cores; from benchmark.studies.executors import default_lanes; "
            "from benchmark.cli import _threads_within_reach; _threads_within_reach(); "
            "print(usable_cores(), default_lanes('cpu'), os.environ.get('OMP_NUM_THREADS'))")
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    expected_threads = "1" if (os.cpu_count() or 1) > 1 else "None"
    assert out.split() == ["1", "1", expected_threads]
