"""A real Valkey cluster on 127.0.0.1 (three masters, one replica each), from the embedded
server binary, with a short node timeout (1 s) so that a replica takes over quickly."""

from __future__ import annotations

import functools
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import redis

from finews.embedded_redis import server_binary


def _free_ports(count: int) -> list[int]:
    """Ports whose cluster-bus twin (port + 10000) is free too."""
    ports: list[int] = []
    while len(ports) < count:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port + 10000 < 65536 and port not in ports:
            ports.append(port)
    return ports


NODE_TIMEOUT_MS = 1000


@dataclass
class Cluster:
    """A running cluster: a URL of one node, and each node's process by port."""

    url: str
    procs: dict[int, subprocess.Popen[bytes]]

    def master_of(self, key: str) -> int:
        """The port of the master that holds `key` now."""
        client = redis.RedisCluster.from_url(self.url)
        try:
            return client.get_node_from_key(key).port
        finally:
            client.close()


@contextmanager
def valkey_cluster(workdir: Path, masters: int = 3, replicas: int = 1) -> Iterator[Cluster]:
    """Yield a ready cluster (every replica in sync); stop every node after."""
    binary = server_binary()
    ports = _free_ports(masters * (1 + replicas))
    procs: dict[int, subprocess.Popen[bytes]] = {}
    try:
        for port in ports:
            node_dir = workdir / str(port)
            node_dir.mkdir(parents=True)
            procs[port] = subprocess.Popen(
                [
                    str(binary),
                    "--port",
                    str(port),
                    "--bind",
                    "127.0.0.1",
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--dir",
                    str(node_dir),
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--cluster-node-timeout",
                    str(NODE_TIMEOUT_MS),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        for port in ports:
            _wait(functools.partial(_pings, port))
        subprocess.run(
            [
                str(binary.parent / "valkey-cli"),
                "--cluster",
                "create",
                *[f"127.0.0.1:{p}" for p in ports],
                "--cluster-replicas",
                str(replicas),
                "--cluster-yes",
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        for port in ports:
            _wait(lambda port=port: _ready(port))
        yield Cluster(f"redis://127.0.0.1:{ports[0]}/0", procs)
    finally:
        for proc in procs.values():
            proc.terminate()
        for proc in procs.values():
            proc.wait(10)


def _ready(port: int) -> bool:
    """The node sees a healthy cluster and, if a replica, is in sync with its master."""
    client = redis.Redis(port=port, socket_connect_timeout=0.5)
    try:
        if client.cluster("info")["cluster_state"] != "ok":
            return False
        info = client.info("replication")
        return info["role"] == "master" or info.get("master_link_status") == "up"
    finally:
        client.close()


def _pings(port: int) -> bool:
    try:
        return bool(redis.Redis(port=port, socket_connect_timeout=0.5).ping())
    except redis.ConnectionError:
        return False


def _wait(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("cluster did not come up")
        time.sleep(0.05)
