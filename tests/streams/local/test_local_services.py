"""Missing tools get one sentence naming the cause and the fix (no process is started)."""

from __future__ import annotations

import pytest

from streams.errors import LocalServiceError
from streams.local import kafka, postgres, system_packages


def test_missing_java_says_what_to_install(monkeypatch):
    monkeypatch.setattr(kafka.shutil, "which", lambda name: None)
    with pytest.raises(LocalServiceError, match=r"Java is not installed.*openjdk-17"):
        kafka.check_java()


def test_missing_maven_says_what_to_install_before_touching_the_cache(monkeypatch, tmp_path):
    monkeypatch.setattr(kafka, "STAMP", tmp_path / "absent")
    monkeypatch.setattr(kafka, "LIB", tmp_path / "lib-that-must-survive")
    (tmp_path / "lib-that-must-survive").mkdir()
    monkeypatch.setattr(kafka.shutil, "which", lambda name: None)
    with pytest.raises(LocalServiceError, match=r"Maven \(mvn\) is not installed.*apt-get"):
        kafka.ensure_jars(tmp_path)
    assert (tmp_path / "lib-that-must-survive").exists()


def test_missing_postgres_without_root_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr(postgres, "_bindir_candidates", list)
    monkeypatch.setattr(
        system_packages,
        "machine",
        lambda: system_packages.Host(
            which={"apt-get": "/usr/bin/apt-get"}.get, matches=lambda _: [], euid=lambda: 1000
        ),
    )
    with pytest.raises(
        LocalServiceError, match=r"not installed.*sudo make.*postgresql.*DATABASE_URL"
    ):
        postgres.find_bindir(tmp_path / "install.log")


def test_a_cluster_id_never_starts_with_a_dash(monkeypatch, tmp_path):
    import uuid

    # 0xF8 encodes to "-" in URL-safe base64: the storage tool would read it as an option.
    draws = iter([uuid.UUID(bytes=b"\xf8" + bytes(15)), uuid.UUID(int=7)])
    monkeypatch.setattr(kafka.uuid, "uuid4", lambda: next(draws))
    cluster_id = kafka.LocalKafka(tmp_path)._cluster_id()
    assert not cluster_id.startswith("-")
    assert len(cluster_id) == 22


def test_a_broker_home_made_without_authentication_is_refused_naming_the_fix(tmp_path):
    from streams.errors import LocalServiceError

    node = kafka.LocalKafka(tmp_path).nodes[0]
    node.data.mkdir(parents=True)
    (node.data / "meta.properties").write_text("cluster.id=old\n")
    with pytest.raises(LocalServiceError, match=r"without authentication.*delete .*kafka"):
        kafka.LocalKafka(tmp_path).start(timeout=5)


def test_the_processes_of_a_three_node_cluster_bootstrap_from_every_node(tmp_path):
    """`iotrack up --nodes 3` made it: every other command finds the three nodes in the home,
    so a client starting or reconnecting while node 1 is down still reaches the cluster."""
    from streams.local import runtime
    from streams.ops.settings import load

    env = {"IOTRACK_HOME": str(tmp_path), "IOTRACK_KAFKA_PORT": "29092"}
    assert kafka.formatted_nodes(tmp_path) == 1, "a new home: one node"
    assert runtime.endpoints(load(env)).bootstrap == "127.0.0.1:29092"
    for n in (1, 2, 3):
        data = tmp_path / "kafka" / f"node-{n}" / "data"
        data.mkdir(parents=True)
        (data / "meta.properties").write_text(f"node.id={n}\n")
    assert kafka.formatted_nodes(tmp_path) == 3
    found = runtime.endpoints(load(env))
    assert found.bootstrap == "127.0.0.1:29092,127.0.0.1:29093,127.0.0.1:29094"
    assert runtime.endpoints(load(env), nodes=1).bootstrap == "127.0.0.1:29092", "as told"
