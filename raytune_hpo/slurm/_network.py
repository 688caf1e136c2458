"""Where a node's Ray listens: its address on the route to the head, and a per-job block of
ports, so that two jobs sharing a node never collide (Ray's fixed defaults would)."""

from __future__ import annotations

import socket
from dataclasses import dataclass

from raytune_hpo.errors import ConfigError

FIRST_PORT = 20000
BLOCK = 1000  # ports per job: the head's two, then 4 nodes' fixed ports and worker ranges
BLOCKS = 40  # 20000-59999
NODES_PER_HOST = 4  # distinct port sets within a block, for nodes of one job on one host
WORKER_PORTS = 200


@dataclass(frozen=True)
class Ports:
    gcs: int
    client_server: int
    node_manager: int
    object_manager: int
    runtime_env_agent: int
    dashboard_agent_grpc: int
    dashboard_agent_listen: int
    metrics_export: int
    min_worker: int
    max_worker: int

    def used(self, head: bool) -> list[int]:
        """The ports this node listens on (the GCS's only on the head)."""
        fixed = [
            self.node_manager,
            self.object_manager,
            self.runtime_env_agent,
            self.dashboard_agent_grpc,
            self.dashboard_agent_listen,
            self.metrics_export,
        ]
        return (
            ([self.gcs, self.client_server] if head else []) + fixed + list(range(self.min_worker, self.max_worker + 1))
        )

    def ray_start_options(self, head: bool) -> list[str]:
        options = [
            f"--node-manager-port={self.node_manager}",
            f"--object-manager-port={self.object_manager}",
            f"--runtime-env-agent-port={self.runtime_env_agent}",
            f"--dashboard-agent-grpc-port={self.dashboard_agent_grpc}",
            f"--dashboard-agent-listen-port={self.dashboard_agent_listen}",
            f"--metrics-export-port={self.metrics_export}",
            f"--min-worker-port={self.min_worker}",
            f"--max-worker-port={self.max_worker}",
        ]
        if head:
            options += [f"--port={self.gcs}", f"--ray-client-server-port={self.client_server}"]
        return options


def ports_in_block(block: int, node_index: int) -> Ports:
    """The ports of node ``node_index`` in block ``block``.

    >>> p = ports_in_block(3, 1)
    >>> p.gcs, p.node_manager, p.min_worker, p.max_worker
    (23000, 23020, 23300, 23499)
    """
    base = FIRST_PORT + (block % BLOCKS) * BLOCK
    local = node_index % NODES_PER_HOST
    fixed = base + 10 + 10 * local
    workers = base + 100 + WORKER_PORTS * local
    return Ports(
        base,
        base + 1,
        fixed,
        fixed + 1,
        fixed + 2,
        fixed + 3,
        fixed + 4,
        fixed + 5,
        workers,
        workers + WORKER_PORTS - 1,
    )


def free_ports(job_id: int, node_index: int, ip: str) -> tuple[Ports, int]:
    """This node's ports: the job's block (from its id) if all are free here, else the next
    block that is; also the number of blocks skipped."""
    for skipped in range(BLOCKS):
        ports = ports_in_block(job_id + skipped, node_index)
        if all(_free(ip, port) for port in ports.used(head=node_index == 0)):
            return ports, skipped
    raise RuntimeError(f"no free block of {BLOCK} ports between {FIRST_PORT} and {FIRST_PORT + BLOCK * BLOCKS}")


def _free(ip: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((ip, port))
        except OSError:
            return False
    return True


def route_ip(destination: str) -> str:
    """This host's address on the route to ``destination`` (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect((destination, 9))
        return s.getsockname()[0]


def interface_ip(name: str) -> str:
    import psutil

    for address in psutil.net_if_addrs().get(name, ()):
        if address.family == socket.AF_INET:
            return address.address
    known = ", ".join(sorted(psutil.net_if_addrs()))
    raise ConfigError(f"--interface: no IPv4 address on {name!r}; this node has {known}")
