"""``raytune-hpo cluster up``: run by ``srun``, one task per node of the allocation.

Node 0 starts Ray's head, waits for every node and GPU, runs (or resumes) the experiment as the
driver, then stops the cluster; every other node starts a Ray worker and stops it when the head
says so. Only this job's Ray processes are ever stopped: each node's Ray runs in its own process
session, started and ended here (never ``ray stop``, which kills every Ray of the user on the node).

The nodes meet in a rendezvous folder under the user's home (shared by the nodes, 0700): the
job's token (0600; Ray's token authentication, so nobody else can join or submit work), the
head's address, the driver's pid (for ``warn_driver``), and the "done" marker. It is deleted at
the end, so no secret outlives the job and none is ever written to the experiment's folder or
logs.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import overload

from raytune_hpo.slurm._allocation import Allocation
from raytune_hpo.slurm._network import free_ports, interface_ip, route_ip

NODE_RESOURCE = "slurm-node:{}"  # a custom resource naming the SLURM node of each Ray node
OBJECT_STORE_SHARE = 0.3  # of the job's memory on the node, as Ray takes of a whole node's


def log(message: str) -> None:
    print(f"raytune-hpo: {message}", flush=True)


@dataclass(frozen=True)
class Rendezvous:
    path: str

    @classmethod
    def for_job(cls, allocation: Allocation) -> Rendezvous:
        root = os.environ.get("HPO_CLUSTER_DIR") or os.path.join(os.path.expanduser("~"), ".raytune-hpo", "clusters")
        return cls(os.path.join(root, f"{allocation.job_id}-{allocation.restart_count}"))

    @property
    def token(self) -> str:
        return os.path.join(self.path, "token")

    @property
    def address(self) -> str:
        return os.path.join(self.path, "address")

    @property
    def done(self) -> str:
        return os.path.join(self.path, "done")

    @property
    def driver_pid(self) -> str:
        return os.path.join(self.path, "driver.pid")

    def create(self) -> None:
        os.makedirs(os.path.dirname(self.path), mode=0o700, exist_ok=True)
        shutil.rmtree(self.path, ignore_errors=True)
        os.makedirs(self.path, mode=0o700)
        descriptor = os.open(self.token, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as f:
            f.write(secrets.token_hex(32))

    def publish(self, path: str, text: str) -> None:
        """Write atomically: a reader on another node sees all of it or nothing."""
        with open(path + ".part", "w") as f:
            f.write(text)
        os.replace(path + ".part", path)

    def wait_for(self, path: str, deadline: float) -> str | None:
        while time.monotonic() < deadline:
            if os.path.exists(path):
                with open(path) as f:
                    return f.read().strip()
            time.sleep(0.5)
        return None


class RayNode:
    """This node's Ray, in its own process session so that neither SLURM's signals to the task
    nor a Ctrl-C reach it; stopped by ``stop()`` and nothing else."""

    def __init__(self, allocation: Allocation, rendezvous: Rendezvous, ip: str, temp_root: str, log_dir: str):
        self.allocation, self.rendezvous, self.ip = allocation, rendezvous, ip
        # Short and node-local: Ray's Unix socket paths must stay under 107 bytes.
        self.temp_dir = os.path.join(temp_root, f"hpo-{allocation.job_id}-{allocation.node_index}")
        self.log_path = os.path.join(log_dir, f"{allocation.job_id}-ray-{allocation.node_name}.log")
        self.process: subprocess.Popen | None = None

    def environment(self) -> dict[str, str]:
        return {**os.environ, **auth_environment(self.rendezvous), "RAY_USAGE_STATS_ENABLED": "0"}

    @overload
    def start(self, head_address: None) -> str: ...
    @overload
    def start(self, head_address: str) -> None: ...

    def start(self, head_address: str | None) -> str | None:
        """Start Ray (the head when ``head_address`` is None); the head's GCS address."""
        a = self.allocation
        ports, skipped = free_ports(a.job_id, a.node_index, self.ip)
        if skipped:
            log(f"{a.node_name}: the job's ports were taken, using a block {skipped} further")
        shutil.rmtree(self.temp_dir, ignore_errors=True)
        command = [
            sys.executable,
            "-m",
            "ray.scripts.scripts",
            "start",
            "--block",
            "--disable-usage-stats",
            f"--node-ip-address={self.ip}",
            f"--temp-dir={self.temp_dir}",
            f"--num-cpus={a.cpus}",
            f"--num-gpus={a.gpus}",
            f'--resources={{"{NODE_RESOURCE.format(a.node_name)}": 1}}',
            *ports.ray_start_options(head=head_address is None),
        ]
        if a.memory_bytes:
            command += [f"--memory={a.memory_bytes}", f"--object-store-memory={object_store_bytes(a.memory_bytes)}"]
        command += ["--head", "--include-dashboard=false"] if head_address is None else [f"--address={head_address}"]
        os.makedirs(os.path.dirname(self.log_path), exist_ok=True)
        with open(self.log_path, "a") as output:
            self.process = subprocess.Popen(
                command,
                env=self.environment(),
                stdout=output,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        log(
            f"{a.node_name}: Ray {'head' if head_address is None else 'worker'} starting at {self.ip} "
            f"({a.cpus} CPUs, {a.gpus} GPUs{', %.1f GiB' % (a.memory_bytes / 2**30) if a.memory_bytes else ''}); "
            f"its log: {self.log_path}"
        )
        return f"{self.ip}:{ports.gcs}" if head_address is None else None

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        """SIGTERM to this node's ``ray start --block``, which stops the processes it started;
        whatever is left of its session after 30 s is killed."""
        if self.process is not None:
            try:
                self.process.terminate()
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        shutil.rmtree(self.temp_dir, ignore_errors=True)


def auth_environment(rendezvous: Rendezvous) -> dict[str, str]:
    return {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": rendezvous.token}


def object_store_bytes(memory: int) -> int:
    """A share of the job's memory, no more than /dev/shm can hold."""
    size = int(memory * OBJECT_STORE_SHARE)
    try:
        shm = os.statvfs("/dev/shm")
        size = min(size, int(shm.f_bavail * shm.f_frsize * 0.9))
    except OSError:
        pass
    return max(size, 80 * 2**20)


def node_ip(allocation: Allocation, interface: str | None) -> str:
    if interface:
        return interface_ip(interface)
    return route_ip(allocation.launch_ip or "127.0.0.1")


def cluster_up(
    experiment_file: str,
    overrides: list[str],
    *,
    max_requeues: int = 3,
    join_timeout: float = 300,
    interface: str | None = None,
    temp_root: str = "/tmp",
) -> int:
    allocation = Allocation.from_environment()
    rendezvous = Rendezvous.for_job(allocation)
    if allocation.node_index == 0:
        return _head(
            allocation, rendezvous, experiment_file, overrides, max_requeues, join_timeout, interface, temp_root
        )
    return _worker(allocation, rendezvous, join_timeout, interface, temp_root)


def _head(allocation, rendezvous, experiment_file, overrides, max_requeues, join_timeout, interface, temp_root) -> int:
    from raytune_hpo.config import load_experiment

    rendezvous.create()
    # Before Ray is imported: it reads its authentication settings once.
    os.environ.update(auth_environment(rendezvous))
    node = None
    try:
        experiment = load_experiment(experiment_file, overrides)
        node = RayNode(
            allocation, rendezvous, node_ip(allocation, interface), temp_root, os.path.join(experiment.path, "slurm")
        )
        address = node.start(head_address=None)
        _wait_for_gcs(node, address, deadline=time.monotonic() + join_timeout)
        rendezvous.publish(
            rendezvous.address, json.dumps({"address": address, "log_dir": os.path.dirname(node.log_path)})
        )
        rendezvous.publish(rendezvous.driver_pid, str(os.getpid()))
        status, unfinished = _drive(allocation, experiment, address, join_timeout)
    finally:
        rendezvous.publish(rendezvous.done, "done")
        _disconnect()
        if node is not None:
            node.stop()
        time.sleep(2)  # the workers see "done" within 0.5 s; their token file goes with the folder
        shutil.rmtree(rendezvous.path, ignore_errors=True)
        log(f"{allocation.node_name}: Ray stopped")
    # Last: requeueing ends this job's processes at once.
    if unfinished:
        _requeue(allocation, unfinished, max_requeues, experiment.path)
    return status


def _wait_for_gcs(node: RayNode, address: str, deadline: float) -> None:
    import socket

    host, port = address.rsplit(":", 1)
    while time.monotonic() < deadline:
        if not node.alive():
            raise RuntimeError(f"Ray's head did not start; see {node.log_path}")
        try:
            socket.create_connection((host, int(port)), timeout=1).close()
            return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"Ray's head did not answer within the join timeout; see {node.log_path}")


def _drive(allocation: Allocation, experiment, address: str, join_timeout: float) -> tuple[int, int]:
    """Run or resume the experiment: its exit status and how many trials it left unfinished."""
    from raytune_hpo._ray.session import init_ray
    from raytune_hpo._summary import summary
    from raytune_hpo.directory import META_FILE
    from raytune_hpo.errors import Interrupted
    from raytune_hpo.runner import resume

    init_ray(address=address)
    missing = _wait_for_nodes(allocation, deadline=time.monotonic() + join_timeout)
    if missing:
        log(
            f"{missing} (waited {join_timeout:g} s; the nodes' Ray logs are in "
            f"{os.path.join(experiment.path, 'slurm')})"
        )
        return 1, 0
    try:
        if os.path.exists(os.path.join(experiment.path, META_FILE)):
            log(f"resuming the experiment in {experiment.path} (start {allocation.restart_count + 1} of this job)")
            results = resume(experiment.path)
        else:
            log(f"running the experiment into {experiment.path}")
            results = experiment.execute(experiment.plan())
    except Interrupted as stopped:  # SLURM's time-limit warning, most often: requeued below
        log(str(stopped))
        results = stopped.results
    # The experiment has ended: a time-limit warning from now on has nothing to save, and USR1's
    # default action would end this driver with status 138, the job FAILED though complete.
    signal.signal(signal.SIGUSR1, signal.SIG_IGN)
    ended = sum(t.status in ("TERMINATED", "ERROR") for t in results.trials)
    unfinished = max((results.planned_trials or 0) - ended, 1) if results.state == "interrupted" else 0
    return summary(results), unfinished


def _wait_for_nodes(allocation: Allocation, deadline: float) -> str | None:
    """None once every SLURM node of the job and its GPUs have joined; else, at the deadline,
    what is missing."""
    import ray

    expected = allocation.nodes or (allocation.node_name,)
    while True:
        resources = ray.cluster_resources()
        missing = [n for n in expected if NODE_RESOURCE.format(n) not in resources]
        gpus, wanted = int(resources.get("GPU", 0)), allocation.gpus * len(expected)
        if not missing and gpus >= wanted:
            log(f"Ray cluster up: {len(expected)} nodes, {int(resources.get('CPU', 0))} CPUs, {gpus} GPUs")
            return None
        if time.monotonic() > deadline:
            if missing:
                return f"{len(missing)} of {len(expected)} nodes never joined: {', '.join(missing)}"
            return f"every node joined but with {gpus} of the {wanted} GPUs"
        time.sleep(1)


def _requeue(allocation: Allocation, unfinished: int, max_requeues: int, path: str) -> None:
    """The experiment stopped early (SLURM's time-limit warning): put the job back in the
    queue, where its next start resumes it, unless it has been requeued enough."""
    if allocation.restart_count >= max_requeues:
        log(
            f"{unfinished} trials unfinished and this job was requeued {allocation.restart_count} times "
            f"(--max-requeues {max_requeues}); not requeueing. Its state is saved in {path}: "
            f"submit the file again with `raytune-hpo slurm FILE --resume ...` to continue"
        )
        return
    log(
        f"{unfinished} trials unfinished, state saved; requeueing job {allocation.job_id} "
        f"(requeue {allocation.restart_count + 1} of at most {max_requeues})"
    )
    subprocess.run(["scontrol", "requeue", str(allocation.job_id)], check=False)


def _worker(allocation, rendezvous, join_timeout, interface, temp_root) -> int:
    deadline = time.monotonic() + join_timeout
    published = rendezvous.wait_for(rendezvous.address, deadline)
    if published is None:
        log(f"{allocation.node_name}: the head published no address within {join_timeout:g} s; stopping")
        return 1
    head = json.loads(published)
    node = RayNode(allocation, rendezvous, node_ip(allocation, interface), temp_root, head["log_dir"])
    try:
        node.start(head_address=head["address"])
        while not os.path.exists(rendezvous.done):
            if not node.alive():
                if rendezvous.wait_for(rendezvous.done, time.monotonic() + 10) is not None:
                    break
                log(f"{allocation.node_name}: Ray stopped unexpectedly; see {node.log_path}")
                return 1
            time.sleep(0.5)
        return 0
    finally:
        node.stop()
        log(f"{allocation.node_name}: Ray stopped")


def _disconnect() -> None:
    if "ray" in sys.modules:
        import ray

        ray.shutdown()


def warn_driver() -> int:
    """``raytune-hpo cluster warn``, run by the batch shell on SLURM's time-limit signal: pass
    it on to the driver alone. (Through ``srun`` it would reach every process of the step, Ray's
    own included, which USR1 kills.) Ray Tune takes USR1 as "save the experiment and stop"."""
    rendezvous = Rendezvous.for_job(Allocation.from_environment())
    try:
        with open(rendezvous.driver_pid) as f:
            pid = int(f.read())
        os.kill(pid, signal.SIGUSR1)
    except (OSError, ValueError):
        log("time-limit warning, but no experiment is running yet; the job ends at its limit")
        return 1
    return 0
