"""A local Apache Kafka cluster in KRaft mode, run from the broker's jars on Maven Central.

Layout under ``<IOTRACK_HOME>/kafka`` (mode 0700: the node configurations hold the broker's
password)::

    cluster.id            the KRaft cluster id, shared by every node
    protocol              the client listener's protocol it was last started with
    tls/                  the local CA and broker certificate, with IOTRACK_KAFKA_TLS=1
    node-<n>/server.properties (0600), data/, logs/server.log, logs/stdout.log, kafka.pid

and the passwords in ``<IOTRACK_HOME>/secrets/kafka/<principal>.password`` (0600 in 0700).

Each node is broker and controller at once. Node ``n`` (1-based) listens for clients on
``base_port + n - 1`` and for the controller quorum on ``base_port + 100 + n - 1``, loopback
only. The jars are copied by Maven from ``deploy/kafka/pom.xml`` into ``deploy/kafka/lib`` once;
``lib/.complete`` holds the hash of the pom that filled it, so editing the pom refreshes it.

**Who may connect.** Nobody without a password: the client listener takes SASL/SCRAM-SHA-512
only (``SASL_PLAINTEXT`` on loopback, ``SASL_SSL`` with the local CA when ``tls``); the brokers
talk to each other on it as :data:`BROKER` (SCRAM too). SCRAM credentials are kept in the
cluster's metadata log, which a controller has not read yet when brokers first register with it,
so the controller listener takes SASL/PLAIN against the one user its configuration names, the
same :data:`BROKER` principal (Kafka's documented way for KRaft). The broker's and the
administrator's (:data:`ADMIN`) SCRAM credentials are written into the metadata log when the
storage is formatted (``StorageTool format --add-scram``, its arguments in a private argument
file rather than on a command line others can read); every other principal's credential is
made by the administrator over the Kafka protocol (``iotrack up``, ``iotrack parties add``).
``StandardAuthorizer`` with ``allow.everyone.if.no.acl.found=false``: what a principal may do
is what ``iotrack topics apply`` granted from the catalogue; :data:`BROKER` and :data:`ADMIN`
are the only super users.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from streams.errors import LocalServiceError
from streams.local.kafka_tls import LocalTls
from streams.local.passwords import PRINCIPAL_NAME, PasswordFiles
from streams.local.processes import (
    adopt,
    port_accepts,
    port_in_use_error,
    process_alive,
    read_pid,
    stop_process,
)
from streams.ops.settings import CHECKOUT
from topics import admin
from topics.clients import KafkaConnection, Protocol, admin_client

if TYPE_CHECKING:
    from confluent_kafka.admin import AdminClient
from topics.secret import Secret

KAFKA_DEPLOY = CHECKOUT / "deploy" / "kafka"
LIB = KAFKA_DEPLOY / "lib"
STAMP = LIB / ".complete"
CONTROLLER_PORT_OFFSET = 100
MIN_JAVA = 17
BROKER = "iotrack-broker"
"""The brokers' own principal: between brokers (SCRAM) and towards the controllers (PLAIN)."""
ADMIN = "iotrack-admin"
"""The one administrator: ``iotrack up``, ``topics apply``, ``parties add``, ``status`` and the
tests' set-up sign in as it, never a worker or a party."""
SUPER_USERS = (BROKER, ADMIN)
SCRAM_MECHANISM = "SCRAM-SHA-512"


def _pom_hash() -> str:
    return hashlib.sha256((KAFKA_DEPLOY / "pom.xml").read_bytes()).hexdigest()


def ensure_jars(log_dir: Path) -> Path:
    """Copy the broker jars into ``deploy/kafka/lib`` unless the cache is already complete."""
    if STAMP.exists() and STAMP.read_text().strip() == _pom_hash():
        return LIB
    mvn = shutil.which("mvn")
    if mvn is None:
        raise LocalServiceError(
            "Maven (mvn) is not installed, and it is needed once to fetch the Kafka broker jars: "
            "install it with 'apt-get install maven' or set KAFKA_BOOTSTRAP_SERVERS to a running "
            "cluster"
        )
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / "maven.log"
    shutil.rmtree(LIB, ignore_errors=True)
    with log.open("w") as out:
        result = subprocess.run(
            [mvn, "-B", "-f", str(KAFKA_DEPLOY / "pom.xml"), "package"],
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
        )
    if result.returncode != 0:
        raise LocalServiceError(
            "Maven could not fetch the Kafka broker jars from Maven Central: check network "
            "access to the registry, then run 'iotrack up' again",
            log,
        )
    STAMP.write_text(_pom_hash() + "\n")
    return LIB


def kafka_version() -> str | None:
    """The Kafka version in the local jar cache, from the broker jar's name."""
    for jar in LIB.glob("kafka_2.13-*.jar"):
        match = re.fullmatch(r"kafka_2\.13-(.+)\.jar", jar.name)
        if match:
            return match.group(1)
    return None


def check_java() -> str:
    """Path of a Java 17+ runtime, or LocalServiceError saying how to get one."""
    java = shutil.which("java")
    if java is None:
        raise LocalServiceError(
            "Java is not installed, and the local Kafka broker runs on it: install a Java 17+ "
            "runtime ('apt-get install openjdk-17-jre-headless') or set KAFKA_BOOTSTRAP_SERVERS"
        )
    out = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)
    match = re.search(r'version "(\d+)', out.stderr + out.stdout)
    if match is None or int(match.group(1)) < MIN_JAVA:
        found = match.group(1) if match else "unknown"
        raise LocalServiceError(
            f"Java {found} found at {java}, but Kafka 4 needs Java {MIN_JAVA} or newer: install "
            "openjdk-17-jre-headless or put a newer java first on PATH"
        )
    return java


@dataclass(frozen=True)
class KafkaNode:
    """One broker+controller process of the local cluster."""

    node_id: int
    directory: Path
    broker_port: int
    controller_port: int

    @property
    def properties(self) -> Path:
        return self.directory / "server.properties"

    @property
    def data(self) -> Path:
        return self.directory / "data"

    @property
    def logs(self) -> Path:
        return self.directory / "logs"

    @property
    def log_file(self) -> Path:
        return self.logs / "server.log"

    @property
    def pid_file(self) -> Path:
        return self.directory / "kafka.pid"

    def pid(self) -> int | None:
        """The pid of this node's running broker, or None."""
        pid = read_pid(self.pid_file)
        return pid if pid is not None and process_alive(pid, "kafka.Kafka") else None


class LocalKafka:
    """Format, start, wait for and stop a local KRaft cluster of ``nodes`` nodes."""

    def __init__(
        self,
        home: Path,
        *,
        nodes: int = 1,
        base_port: int = 19092,
        heap: str = "512m",
        tls: bool = False,
    ):
        if nodes < 1:
            raise ValueError("a cluster has at least one node")
        self.root = home / "kafka"
        self.heap = heap
        self.tls = tls
        self.passwords = PasswordFiles(
            home / "secrets" / "kafka", names=PRINCIPAL_NAME, what="Kafka principal"
        )
        self.certificates = LocalTls(self.root / "tls")
        self.nodes = [
            KafkaNode(
                n,
                self.root / f"node-{n}",
                base_port + n - 1,
                base_port + CONTROLLER_PORT_OFFSET + n - 1,
            )
            for n in range(1, nodes + 1)
        ]

    @property
    def bootstrap(self) -> str:
        """The client address list of every node."""
        return ",".join(f"127.0.0.1:{node.broker_port}" for node in self.nodes)

    def running(self) -> bool:
        """True when every node's process is alive."""
        return all(node.pid() is not None for node in self.nodes)

    @property
    def _protocol_file(self) -> Path:
        return self.root / "protocol"

    @property
    def protocol(self) -> Protocol:
        """The client listener's protocol: what the cluster was last started with, else what
        this manager would start it with."""
        try:
            return Protocol(self._protocol_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return Protocol.SASL_SSL if self.tls else Protocol.SASL_PLAINTEXT

    @property
    def wanted_protocol(self) -> Protocol:
        return Protocol.SASL_SSL if self.tls else Protocol.SASL_PLAINTEXT

    def connection(self, username: str) -> KafkaConnection:
        """How ``username`` signs in, with its password from this home (MissingPassword when
        none was made)."""
        protocol = self.protocol
        return KafkaConnection(
            self.bootstrap,
            username,
            self.passwords.read(username),
            protocol,
            ca_file=self.certificates.ca_file if protocol is Protocol.SASL_SSL else None,
        )

    def admin_connection(self) -> KafkaConnection:
        """The administrator's connection."""
        return self.connection(ADMIN)

    def ensure_credentials(self, principals: Iterable[str]) -> list[str]:
        """Give each principal a password (made once, 0600) and its SCRAM credential on the
        running cluster (made from that password when the cluster has none); the principals
        whose password was made now."""
        return ensure_scram(admin.admin_client(self.admin_connection()), self.passwords, principals)

    def _cluster_id(self) -> str:
        path = self.root / "cluster.id"
        if not path.exists():
            self.root.mkdir(parents=True, exist_ok=True)
            # Kafka's Uuid text form: 16 random bytes, URL-safe base64 without padding. One
            # starting with "-" reads as an option to the storage tool's argument parser (as
            # Kafka's own Uuid.randomUuid also avoids), so draw again.
            text = "-"
            while text.startswith("-"):
                text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
            path.write_text(text + "\n")
        return path.read_text().strip()

    def _private_directories(self, node: KafkaNode) -> None:
        for directory in (self.root, node.directory):
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            directory.chmod(0o700)

    def _write_properties(self, node: KafkaNode) -> None:
        voters = ",".join(f"{n.node_id}@127.0.0.1:{n.controller_port}" for n in self.nodes)
        replication = min(3, len(self.nodes))
        template = (KAFKA_DEPLOY / "server.properties.template").read_text()
        text = template.format(
            node_id=node.node_id,
            voters=voters,
            broker_port=node.broker_port,
            controller_port=node.controller_port,
            log_dir=node.data,
            replication=replication,
            min_insync=max(1, replication - 1),
            client_protocol=self.wanted_protocol,
            broker_user=BROKER,
            broker_password=self.passwords.read(BROKER).reveal(),
            admin_user=ADMIN,
            tls=self.certificates.properties() if self.tls else "",
        )
        _write_private(node.properties, text)

    def _java_command(self, java: str, node: KafkaNode, main: str, *args: str) -> list[str]:
        return [
            java,
            f"-Xmx{self.heap}",
            "-Xms128m",
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={KAFKA_DEPLOY / 'log4j2.xml'}",
            f"-Dkafka.logs.dir={node.logs}",
            "-cp",
            f"{LIB}/*",
            main,
            *args,
        ]

    def _scram_marker(self, node: KafkaNode) -> Path:
        return node.directory / "scram-bootstrapped"

    def _check_formatted(self, node: KafkaNode) -> None:
        """Refuse a node formatted by a release without authentication: SCRAM credentials can
        be bootstrapped only when the storage is formatted."""
        if (node.data / "meta.properties").exists() and not self._scram_marker(node).exists():
            raise LocalServiceError(
                f"the local Kafka in {self.root} was made by an earlier iotrack without "
                "authentication, and its broker and administrator credentials can only be written "
                f"when its storage is formatted: stop it ('iotrack down'), delete {self.root} "
                "(its topics and records go with it) and run 'iotrack up' again"
            )

    def _format(self, java: str, node: KafkaNode) -> None:
        if (node.data / "meta.properties").exists():
            return
        node.data.mkdir(parents=True, exist_ok=True)
        scram = [
            f"{SCRAM_MECHANISM}=[name={name},password={self.passwords.read(name).reveal()}]"
            for name in SUPER_USERS
        ]
        command = self._java_command(
            java,
            node,
            "kafka.tools.StorageTool",
            "format",
            "--ignore-formatted",
            "-t",
            self._cluster_id(),
            "-c",
            str(node.properties),
            *(arg for credential in scram for arg in ("--add-scram", credential)),
        )
        # The passwords must not be on a command line (every user can read /proc/*/cmdline):
        # the java launcher reads the main class and its arguments from a private file instead.
        main_at = command.index("kafka.tools.StorageTool")
        arguments = node.directory / "format.args"
        _write_private(arguments, "".join(_argfile_line(a) for a in command[main_at:]))
        try:
            result = subprocess.run(
                [*command[:main_at], f"@{arguments}"],
                capture_output=True,
                text=True,
                check=False,
            )
        finally:
            arguments.unlink(missing_ok=True)
        if result.returncode == 0:
            _write_private(self._scram_marker(node), f"{SCRAM_MECHANISM} {' '.join(SUPER_USERS)}\n")
        else:
            _write_private(node.logs / "format.log", result.stdout + result.stderr)
            lines = (result.stderr or result.stdout).strip().splitlines()
            raise LocalServiceError(
                f"formatting the storage of Kafka node {node.node_id} failed "
                f"({lines[-1] if lines else 'no output'}): if {node.data} is left over from "
                "another cluster, delete it and retry",
                node.logs / "format.log",
            )

    def start(self, timeout: float = 120.0) -> str:
        """Start every node that is not running (idempotent) and wait until all answer."""
        if self.running():
            if self.protocol is not self.wanted_protocol:
                raise LocalServiceError(
                    f"the local Kafka runs with {self.protocol} on its client listener, not "
                    f"{self.wanted_protocol}: stop it ('iotrack down') to switch"
                )
            return self.bootstrap
        java = check_java()
        for node in self.nodes:
            self._private_directories(node)
            node.logs.mkdir(parents=True, exist_ok=True)
            self._check_formatted(node)
        ensure_jars(self.root)
        for name in SUPER_USERS:
            self.passwords.ensure(name)
        if self.tls:
            self.certificates.ensure()
        _write_private(self._protocol_file, f"{self.wanted_protocol}\n")
        launched: dict[int, subprocess.Popen[bytes]] = {}
        for node in self.nodes:
            if node.pid() is not None:
                continue
            for port, what in ((node.broker_port, "client"), (node.controller_port, "controller")):
                if port_accepts(port):
                    raise port_in_use_error(
                        port, f"Kafka node {node.node_id}'s {what}", "IOTRACK_KAFKA_PORT"
                    )
            self._write_properties(node)
            self._format(java, node)
            with (node.logs / "stdout.log").open("ab") as out:
                process = subprocess.Popen(
                    self._java_command(java, node, "kafka.Kafka", str(node.properties)),
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    cwd=node.directory,
                    start_new_session=True,
                )
            node.pid_file.write_text(f"{process.pid}\n")
            launched[node.node_id] = process
            adopt(process)
        self._wait_ready(timeout, launched)
        return self.bootstrap

    def _wait_ready(self, timeout: float, launched: dict[int, subprocess.Popen[bytes]]) -> None:
        deadline = time.monotonic() + timeout
        admin = None
        while time.monotonic() < deadline:
            for node in self.nodes:
                # A just-forked child shows Python's command line until it execs java, so the
                # processes launched here are watched through their Popen handles.
                process = launched.get(node.node_id)
                alive = process.poll() is None if process else node.pid() is not None
                if not alive:
                    # stdout.log has both the JVM's own failures (before log4j starts) and the
                    # broker's ERROR lines (log4j2.xml copies them to stderr).
                    log = node.logs / "stdout.log"
                    raise LocalServiceError(
                        f"Kafka node {node.node_id} exited during start-up: read the end of its "
                        "log for the cause",
                        log,
                    )
            if all(port_accepts(node.broker_port) for node in self.nodes):
                admin = admin or admin_client(self.admin_connection())
                try:
                    brokers = admin.list_topics(timeout=2).brokers
                except Exception:  # not ready yet, whatever the reason
                    brokers = {}
                if len(brokers) == len(self.nodes):
                    return
            time.sleep(0.2)
        raise LocalServiceError(
            f"the local Kafka cluster did not answer within {timeout:.0f} s: read the log, or stop "
            "it with 'iotrack down' and retry",
            self.nodes[0].log_file,
        )

    def stop(self, timeout: float = 60.0) -> None:
        """Stop every node: SIGTERM for a clean shutdown, SIGKILL after ``timeout``."""
        for node in self.nodes:
            pid = node.pid()
            if pid is not None:
                os.kill(pid, signal.SIGTERM)
        for node in self.nodes:
            pid = node.pid()
            if pid is not None:
                stop_process(pid, "kafka.Kafka", timeout)
            node.pid_file.unlink(missing_ok=True)


def formatted_nodes(home: Path) -> int:
    """How many nodes the local cluster under ``home`` was made with (node folders with
    formatted storage, counted from node 1), 1 when there is none yet: the processes of a
    cluster made with ``iotrack up --nodes 3`` bootstrap from all three, so that one node down
    never keeps a client from starting or reconnecting."""
    root = home / "kafka"
    count = 0
    while (root / f"node-{count + 1}" / "data" / "meta.properties").exists():
        count += 1
    return max(1, count)


def ensure_scram(client: AdminClient, files: PasswordFiles, principals: Iterable[str]) -> list[str]:
    """Give each principal a password kept in ``files`` (made once, 0600) and its SCRAM
    credential on the cluster ``client`` administers (made from that password when the
    cluster has none, or when the password was made now); the principals whose password was
    made now."""
    passwords: dict[str, Secret] = {}
    made = []
    for name in principals:
        passwords[name], new = files.made(name)
        if new:
            made.append(name)
    present = admin.scram_users(client)
    admin.set_passwords(
        client, {n: p for n, p in passwords.items() if n in made or n not in present}
    )
    return made


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by its owner alone (0600), replacing it whole."""
    staging = path.with_name(f".{path.name}.{os.getpid()}")
    descriptor = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write(text)
    staging.chmod(0o600)
    staging.replace(path)


def _argfile_line(argument: str) -> str:
    """One argument of a java launcher argument file, quoted."""
    return '"' + argument.replace("\\", "\\\\").replace('"', '\\"') + '"\n'
