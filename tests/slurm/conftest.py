"""A real SLURM cluster on this machine, for the tests: one slurmctld, two slurmd, a munged.

Debian's SLURM 22.05 (``slurm-wlm``) and MUNGE (``munge``), installed by ``.ci/run``; the
daemons run as root. Everything the cluster owns lives in one temporary directory: its
configuration, its state, its logs, its MUNGE key and socket, and two fake GPUs per node
(character devices listed in gres.conf, so SLURM sets ``CUDA_VISIBLE_DEVICES`` in every
job step). The fixture starts its own munged on its own socket (slurm.conf's
``AuthInfo=socket=``), so it neither needs nor touches ``/etc/munge`` or a munged already
running, and two test sessions at once do not share one.

Both nodes are ``localhost``/127.0.0.1, told apart by their own slurmd port; each declares
4 CPUs, 4000 MB and ``gpu:2`` (``SlurmdParameters=config_overrides`` lets slurmd accept
more CPUs than the 2-core host has). Ports are the first free ones from 16817 on, clear of
Ray's 6379, 8265 and 10001.

Timing that matters to tests, measured with this configuration (SLURM 22.05.8, 2 cores):
- the cluster is up (both nodes idle) about 1 s after the fixture starts it; a job runs
  about 0.2 s after ``sbatch`` (``SchedulerParameters=bf_interval=1,sched_interval=1``;
  2 s with SLURM's defaults);
- slurmctld checks time limits, and sends ``--signal`` warnings, only every 30 s (a
  compile-time constant in 22.05, not a slurm.conf setting): ``--signal=B:USR1@S`` reaches
  the batch shell between S and S + 30 s before the limit, and a job that ignores it gets
  SIGTERM 0 to 30 s after its limit, SIGKILL ``KillWait`` later, and ends TIMEOUT (not
  requeued); ``--time`` counts whole minutes (``--time=0:20`` is 1 minute);
  ``scancel --signal=USR1 --batch JOB`` signals the batch shell at once (0.1 s);
- a requeued job is held until ``cred_expire`` + 1 s after its processes are gone
  (``AuthInfo=cred_expire=``: 120 s by default, 5 here, the least SLURM accepts; a smaller
  value is refused and 120 used). ``scontrol requeue`` to running again takes about 6 s
  when the job's processes exit on SIGTERM, about 11 s when one ignores SIGTERM;
  ``SLURM_RESTART_COUNT`` is unset in a job's first run, 1 in its second;
- on teardown every job is cancelled and anything still running with this cluster's
  ``SLURM_CONF`` in its environment (a daemon a job double-forked, which SLURM's
  proctrack/linuxproc loses track of) is killed.
"""

from __future__ import annotations

import dataclasses
import os
import re
import signal
import socket
import stat
import subprocess
import time
from pathlib import Path

import pytest

from tests.helpers import missing, search_path

NODES = ("node1", "node2")
CPUS_PER_NODE = 4
GPUS_PER_NODE = 2
MEMORY_MB = 4000
PARTITION = "debug"
FIRST_PORT = 16817
# Seconds a requeued job waits before it may start again (SLURM's default is 120).
CRED_EXPIRE = 5
# Seconds between SIGTERM and SIGKILL when a job is cancelled, requeued or times out.
KILL_WAIT = 5

# Where a job's life ends; REQUEUED, REQUEUE_HOLD and the like are not ends.
FINAL_STATES = frozenset({
    "COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "PREEMPTED",
    "OUT_OF_MEMORY", "BOOT_FAIL", "DEADLINE",
})
ACTIVE_STATES = frozenset({
    "PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "REQUEUED",
    "REQUEUE_FED", "REQUEUE_HOLD", "RESIZING", "SIGNALING", "STAGE_OUT", "STOPPED",
})

_KEY = re.compile(r"(?:^|\s)([A-Za-z][A-Za-z0-9_/:]*)=")


def parse_key_values(line: str) -> dict[str, str]:
    """``scontrol show ... -o``'s one line as a dict; a value runs up to the next `` Key=``."""
    found = list(_KEY.finditer(line))
    return {
        m.group(1): line[m.end():found[i + 1].start() if i + 1 < len(found) else len(line)].strip()
        for i, m in enumerate(found)
    }


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("", port))
        except OSError:
            return False
    return True


def free_ports(count: int, first: int = FIRST_PORT) -> list[int]:
    """``count`` consecutive free TCP ports from ``first`` on (in steps of ``count``)."""
    for base in range(first, first + 40 * count, count):
        ports = list(range(base, base + count))
        if all(_port_free(p) for p in ports):
            return ports
    raise RuntimeError(f"no {count} consecutive free ports from {first} on")


def _parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return 0


def _tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError as exc:
        return f"({exc})"
    return "\n".join(text[-lines:])


@dataclasses.dataclass
class SlurmCluster:
    """A SLURM cluster whose every file lies under ``root``; ``start()`` and ``stop()`` it.

    ``extra_conf`` lines go to the end of slurm.conf's global part (a later line overrides an
    earlier one), ``cred_expire`` and ``kill_wait`` are the requeue delay and KillWait.
    """

    root: Path
    cred_expire: int = CRED_EXPIRE
    kill_wait: int = KILL_WAIT
    extra_conf: tuple[str, ...] = ()
    conf: Path = dataclasses.field(init=False)
    logdir: Path = dataclasses.field(init=False)
    env: dict[str, str] = dataclasses.field(init=False)
    ports: dict[str, int] = dataclasses.field(init=False, default_factory=dict)
    _procs: dict[str, subprocess.Popen] = dataclasses.field(init=False, default_factory=dict)
    _scripts: int = dataclasses.field(init=False, default=0)

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        self.conf = self.root / "etc" / "slurm.conf"
        self.logdir = self.root / "log"
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("SLURM_", "SLURMD_", "SBATCH_", "SRUN_", "SALLOC_", "SQUEUE_"))}
        env["PATH"] = search_path()
        env["SLURM_CONF"] = str(self.conf)
        self.env = env

    # ------------------------------------------------------------------ files
    @property
    def munge_socket(self) -> Path:
        return self.root / "munge" / "munge.socket"

    @property
    def jobdir(self) -> Path:
        """Where ``submit`` writes scripts and, unless told otherwise, runs sbatch."""
        return self.root / "jobs"

    def _write_files(self) -> None:
        for sub in ("etc", "log", "state", "run", "dev", "jobs", "munge", "munge-key"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        for node in NODES:
            (self.root / "spool" / node).mkdir(parents=True, exist_ok=True)
        os.chmod(self.root / "munge", 0o755)  # the socket's directory: reachable by all
        os.chmod(self.root / "munge-key", 0o700)
        key = self.root / "munge-key" / "munge.key"
        if not key.exists():
            fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o400)
            with os.fdopen(fd, "wb") as f:
                f.write(os.urandom(1024))
        for i in range(GPUS_PER_NODE):
            dev = self.root / "dev" / f"nvidia{i}"
            if not dev.exists():  # a character device, as gres.conf wants: /dev/null's numbers
                os.mknod(dev, 0o666 | stat.S_IFCHR, os.makedev(1, 3))

        ctld, *slurmd = free_ports(1 + len(NODES))
        self.ports = {"slurmctld": ctld, **dict(zip(NODES, slurmd))}
        r, log = self.root, self.logdir
        nodes = "\n".join(
            f"NodeName={n} NodeHostname=localhost NodeAddr=127.0.0.1 Port={self.ports[n]} "
            f"CPUs={CPUS_PER_NODE} RealMemory={MEMORY_MB} Gres=gpu:{GPUS_PER_NODE} State=UNKNOWN"
            for n in NODES)
        extra = "\n".join(self.extra_conf)
        self.conf.write_text(f"""\
# Written by tests/slurm/conftest.py for one test session.
ClusterName=raytunehpo
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort={ctld}
SlurmdPort={slurmd[0]}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={self.munge_socket},cred_expire={self.cred_expire}
StateSaveLocation={r}/state
SlurmdSpoolDir={r}/spool/%n
SlurmctldPidFile={r}/run/slurmctld.pid
SlurmdPidFile={r}/run/slurmd-%n.pid
SlurmctldLogFile={log}/slurmctld.log
SlurmdLogFile={log}/slurmd-%n.log
SlurmctldDebug=info
SlurmdDebug=info
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SlurmdParameters=config_overrides
ReturnToService=2
SchedulerType=sched/backfill
SchedulerParameters=bf_interval=1,sched_interval=1
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
GresTypes=gpu
JobRequeue=1
MinJobAge=3600
KillWait={self.kill_wait}
InactiveLimit=0
{extra}
{nodes}
PartitionName={PARTITION} Nodes=node[1-{len(NODES)}] Default=YES MaxTime=UNLIMITED State=UP
""")
        (self.conf.parent / "gres.conf").write_text(
            f"NodeName=node[1-{len(NODES)}] Name=gpu "
            f"File={r}/dev/nvidia[0-{GPUS_PER_NODE - 1}]\n")

    # ---------------------------------------------------------------- daemons
    def _spawn(self, name: str, argv: list[str]) -> None:
        with open(self.logdir / f"{name}.stderr", "ab") as out:
            self._procs[name] = subprocess.Popen(
                argv, env=self.env, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                start_new_session=True)

    def _check_alive(self) -> None:
        for name, proc in self._procs.items():
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with status {proc.returncode}\n{self.logs()}")

    def logs(self, lines: int = 30) -> str:
        files = sorted(self.logdir.glob("*.log")) + sorted(self.logdir.glob("*.stderr"))
        return "\n".join(f"--- {f.name} (last {lines} lines)\n{_tail(f, lines)}"
                         for f in files if f.stat().st_size)

    def start(self, timeout: float = 60.0) -> "SlurmCluster":
        self._write_files()
        deadline = time.monotonic() + timeout
        m = self.root / "munge"
        self._spawn("munged", [
            "munged", "--foreground", "--force", f"--socket={self.munge_socket}",
            f"--key-file={self.root / 'munge-key' / 'munge.key'}", f"--log-file={m / 'munged.log'}",
            f"--pid-file={m / 'munged.pid'}", f"--seed-file={m / 'munged.seed'}"])
        while True:  # munged answers: a credential encodes and decodes
            self._check_alive()
            probe = subprocess.run(f"munge -n -S {self.munge_socket} | unmunge -S {self.munge_socket}",
                                   shell=True, env=self.env, capture_output=True)
            if probe.returncode == 0:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"munged did not answer:\n{probe.stderr.decode()}\n{self.logs()}")
            time.sleep(0.1)
        self._spawn("slurmctld", ["slurmctld", "-D", "-i"])
        for node in NODES:
            self._spawn(f"slurmd-{node}", ["slurmd", "-D", "-N", node])
        while True:  # both nodes idle in sinfo
            self._check_alive()
            out = subprocess.run(["sinfo", "-h", "-N", "-o", "%N %T"], env=self.env,
                                 capture_output=True, text=True).stdout
            states = dict(line.split() for line in out.splitlines() if line.strip())
            if all(states.get(n) == "idle" for n in NODES):
                return self
            if time.monotonic() > deadline:
                raise RuntimeError(f"nodes not idle after {timeout:.0f} s: {states}\n{self.logs()}")
            time.sleep(0.2)

    def _processes_of_ours(self) -> list[int]:
        """Processes whose environment names this cluster's slurm.conf: job steps, their
        children (Ray daemons a job started included), slurmstepd and the daemons."""
        marker = f"SLURM_CONF={self.conf}".encode()
        spare = {os.getpid()}
        pid = os.getpid()
        while pid > 1:  # never this process or its ancestors
            pid = _parent(pid)
            spare.add(pid)
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) in spare:
                continue
            try:
                if marker in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except OSError:
                pass
        return found

    def stop(self) -> list[int]:
        """Cancels every job, stops the daemons, kills what is left; returns the pids it had
        to kill once the daemons had stopped (empty when everything went away by itself)."""
        if self._procs.get("slurmctld") and self._procs["slurmctld"].poll() is None:
            ids = self.run("squeue", "-h", "-o", "%A", check=False).stdout.split()
            if ids:
                self.run("scancel", *ids, check=False)
                deadline = time.monotonic() + max(self.kill_wait, 5) + 10
                while (time.monotonic() < deadline
                       and self.run("squeue", "-h", "-o", "%A", check=False).stdout.split()):
                    time.sleep(0.2)
        daemons = {p.pid for p in self._procs.values()}
        deadline = time.monotonic() + 5  # slurmstepd outlives its job's record by a moment
        while time.monotonic() < deadline and [
                pid for pid in self._processes_of_ours()
                if pid not in daemons and _parent(pid) not in daemons]:  # slurmscriptd
            time.sleep(0.1)
        order = [n for n in self._procs if n.startswith("slurmd")] + ["slurmctld", "munged"]
        for name in order:
            proc = self._procs.get(name)
            if proc is None or proc.poll() is not None:
                continue
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=15)
        self._procs.clear()
        leftover = self._processes_of_ours()
        for pid in leftover:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and self._processes_of_ours():
            time.sleep(0.1)
        return leftover

    # ---------------------------------------------------------------- helpers
    def run(self, *argv: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
        """A SLURM command (``scontrol``, ``squeue``...) against this cluster."""
        return subprocess.run(argv, env=self.env, capture_output=True, text=True, check=check,
                              timeout=timeout)

    def submit(self, script: str | os.PathLike, *sbatch_args: str, cwd: str | os.PathLike | None = None,
               env: dict[str, str] | None = None) -> str:
        """``sbatch --parsable``; returns the job id. ``script`` is a path, or a script's text
        (anything starting with ``#!``), which is written to a file under ``jobdir``.
        sbatch runs in ``cwd`` (default ``jobdir``): the job's default working directory and
        where ``slurm-<id>.out`` goes. ``env`` (default ``self.env``) is what the job inherits."""
        if isinstance(script, str) and script.startswith("#!"):
            self._scripts += 1
            path = self.jobdir / f"script-{self._scripts}.sh"
            path.write_text(script)
            script = path
        proc = subprocess.run(["sbatch", "--parsable", *sbatch_args, str(script)],
                              env=self.env if env is None else env, cwd=cwd or self.jobdir,
                              capture_output=True, text=True, timeout=60)
        if proc.returncode != 0:
            raise RuntimeError(f"sbatch failed ({proc.returncode}): {proc.stderr.strip()}")
        return proc.stdout.strip().split(";")[0]

    def job_info(self, job_id: str) -> dict[str, str]:
        """``scontrol show job -o <id>`` as a dict (JobState, Restarts, NodeList, StdOut...)."""
        out = self.run("scontrol", "show", "job", "-o", str(job_id)).stdout
        return parse_key_values(out.strip().splitlines()[0])

    def state(self, job_id: str) -> str:
        return self.job_info(job_id)["JobState"]

    def wait(self, job_id: str, timeout: float = 60, states=FINAL_STATES, poll: float = 0.2) -> str:
        """Polls until the job's state is in ``states`` (default: a final state), returns it;
        raises TimeoutError, with the job's record, if it is not after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        states = {states} if isinstance(states, str) else set(states)
        while True:
            try:
                info = self.job_info(job_id)
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
                # slurmctld may not answer in time while the 2 cores start Ray nodes; ask again.
                if time.monotonic() > deadline:
                    raise
                time.sleep(poll)
                continue
            if info["JobState"] in states:
                return info["JobState"]
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} still {info['JobState']} after {timeout} s "
                                   f"(waiting for {sorted(states)}): {info}")
            time.sleep(poll)

    def output(self, job_id: str) -> str:
        """The text of the job's StdOut file (empty if there is none yet)."""
        path = Path(self.job_info(job_id)["StdOut"])
        return path.read_text(errors="replace") if path.exists() else ""


@pytest.fixture(scope="session")
def slurm(tmp_path_factory):
    """A real SLURM cluster for the session; ``SLURM_CONF`` names it in ``os.environ`` too."""
    reason = missing("slurm")
    if reason:  # tests/conftest.py skips the tests marked slurm before they get here
        pytest.fail(f"the SLURM cluster {reason}")
    cluster = SlurmCluster(tmp_path_factory.mktemp("slurm"))
    before = os.environ.get("SLURM_CONF")
    try:
        cluster.start()
    except Exception as exc:
        cluster.stop()
        pytest.fail(f"could not start the SLURM cluster: {exc}")
    os.environ["SLURM_CONF"] = str(cluster.conf)
    try:
        yield cluster
    finally:
        if before is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = before
        cluster.stop()
