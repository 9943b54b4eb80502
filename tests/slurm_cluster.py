"""A real one-node Slurm cluster for the tests: Debian's munge, slurmctld and slurmd started as root with
a minimal configuration of their own (proctrack/linuxproc, task/none, no accounting), in seconds.

`start(folder)` returns the environment a client needs (SLURM_CONF) or raises Unavailable with the
reason (not root, the packages missing, a daemon that does not come up), so a test can skip saying why.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path


class Unavailable(Exception):
    pass


CONF = """ClusterName=rtb
SlurmctldHost={host}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation={d}/state
SlurmdSpoolDir={d}/spool
SlurmctldPidFile={d}/slurmctld.pid
SlurmdPidFile={d}/slurmd.pid
SlurmctldLogFile={d}/slurmctld.log
SlurmdLogFile={d}/slurmd.log
SlurmctldPort={ctld_port}
SlurmdPort={d_port}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
MinJobAge=300
KillWait=5
NodeName={host} CPUs={cpus} RealMemory={mem} State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(folder: Path) -> dict:
    """Start munged, slurmctld and slurmd for a cluster whose files live in `folder`; the client environment."""
    if os.geteuid() != 0:
        raise Unavailable("starting slurmctld and slurmd needs root")
    for tool in ("munged", "slurmctld", "slurmd", "sbatch", "sinfo"):
        if shutil.which(tool) is None:
            raise Unavailable(f"{tool} is not installed (apt-get install slurmctld slurmd munge)")
    folder = Path(folder)
    for sub in ("state", "spool"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    host = socket.gethostname().split(".")[0]
    mem = max(1024, int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20 * 0.8))
    conf = folder / "slurm.conf"
    conf.write_text(CONF.format(host=host, d=folder, cpus=os.cpu_count() or 1, mem=mem, ctld_port=_free_port(),
                                d_port=_free_port()))
    env = {**os.environ, "SLURM_CONF": str(conf)}
    if subprocess.run(["pgrep", "-x", "munged"], capture_output=True).returncode != 0:
        Path("/run/munge").mkdir(parents=True, exist_ok=True)
        shutil.chown("/run/munge", "munge", "munge")
        r = subprocess.run(["runuser", "-u", "munge", "--", "munged"], capture_output=True, text=True)
        if r.returncode != 0:
            raise Unavailable(f"munged did not start: {(r.stderr or r.stdout).strip()[:200]}")
    for daemon in (["slurmctld", "-c", "-i"], ["slurmd", "-c"]):
        r = subprocess.run(daemon, env=env, capture_output=True, text=True)
        if r.returncode != 0:
            raise Unavailable(f"{daemon[0]} did not start: {(r.stderr or r.stdout).strip()[:200]}")
    deadline = time.time() + 60
    while time.time() < deadline:
        r = subprocess.run(["sinfo", "-h", "-o", "%t"], env=env, capture_output=True, text=True)
        if r.returncode == 0 and r.stdout.strip() in ("idle", "mix", "alloc"):
            return env
        time.sleep(1)
    log = (folder / "slurmctld.log").read_text()[-300:] if (folder / "slurmctld.log").is_file() else ""
    raise Unavailable(f"the node did not become idle within 60 s (sinfo: {r.stdout.strip() or r.stderr.strip()}; "
                      f"{log})")


def stop(folder: Path, env: dict) -> None:
    """Stop this cluster's daemons (munged stays: other clusters may share it)."""
    for pidfile in ("slurmd.pid", "slurmctld.pid"):
        path = Path(folder) / pidfile
        if path.is_file():
            try:
                os.kill(int(path.read_text().strip()), 15)
            except (ValueError, ProcessLookupError):
                pass
    time.sleep(1)
