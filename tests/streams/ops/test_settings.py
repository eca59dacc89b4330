"""Configuration errors name the key; secrets never show."""

from __future__ import annotations

import pytest

from streams.errors import ConfigError
from streams.ops.settings import Secret, load


def test_defaults_are_the_embedded_services():
    settings = load({})
    assert settings.embedded_kafka
    assert settings.embedded_postgres
    assert settings.home.name == ".iotrack"
    assert (settings.kafka_port, settings.postgres_port) == (19092, 15432)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("KAFKA_BOOTSTRAP_SERVERS", "not a host list"),
        ("DATABASE_URL", "mysql://x@y/z"),
        ("SCHEMA_REGISTRY_URL", "ftp://registry"),
        ("IOTRACK_POSTGRES_PORT", "abc"),
        ("IOTRACK_KAFKA_HEAP", "lots"),
    ],
)
def test_a_bad_value_is_refused_naming_its_key(key, value):
    with pytest.raises(ConfigError, match=key):
        load({key: value})


def test_the_database_password_never_appears_in_messages_or_repr():
    with pytest.raises(ConfigError) as caught:
        load({"DATABASE_URL": "mysql://app:hunter2@db/x"})
    assert "hunter2" not in str(caught.value)
    settings = load({"DATABASE_URL": "postgresql://app:hunter2@db:5432/iotrack"})
    assert "hunter2" not in repr(settings)
    assert isinstance(settings.database_url, Secret)
    assert settings.database_url.reveal().endswith("@db:5432/iotrack")


def test_a_given_database_serves_every_duty_unless_one_is_given_its_own():
    from streams.local import runtime
    from streams.ops.duties import Duty

    given = "postgresql://app:hunter2@db:5432/iotrack"
    own = "postgresql://reader:s3cret@db:5432/iotrack"
    settings = load({"DATABASE_URL": given, "DATABASE_URL_API": own})
    assert settings.database_urls == {Duty.API: Secret(own)}
    assert "s3cret" not in repr(settings)
    found = runtime.endpoints(settings)
    assert found.database(Duty.API).reveal() == own
    for duty in (Duty.OWNER, Duty.PROJECTION, Duty.SUBSCRIPTIONS):
        assert found.database(duty).reveal() == given, "used as given"
    assert found.databases.address == "postgresql://app:***@db:5432/iotrack"
    scratch = found.on_database("scratch_1")
    assert scratch.database(Duty.API).reveal() == own.replace("/iotrack", "/scratch_1")
    assert scratch.database(Duty.OWNER).reveal().endswith("@db:5432/scratch_1")


def test_a_duty_url_without_the_server_url_is_refused():
    with pytest.raises(ConfigError, match=r"DATABASE_URL_PROJECTION given without DATABASE_URL"):
        load({"DATABASE_URL_PROJECTION": "postgresql://p:x@db/iotrack"})
    with pytest.raises(ConfigError, match="DATABASE_URL_API") as caught:
        load({"DATABASE_URL": "postgresql://db/x", "DATABASE_URL_API": "mysql://a:hunter2@b/c"})
    assert "hunter2" not in str(caught.value)


def test_the_local_database_has_a_role_per_duty_and_needs_up_first(tmp_path):
    from streams.errors import LocalServiceError
    from streams.local import runtime
    from streams.ops.duties import Duty

    found = runtime.endpoints(
        load({"IOTRACK_HOME": str(tmp_path), "IOTRACK_POSTGRES_PORT": "25000"})
    )
    assert found.databases.address == "postgresql://127.0.0.1:25000/iotrack"
    with pytest.raises(LocalServiceError, match=r"iotrack_projection.*run 'iotrack up' first"):
        found.database(Duty.PROJECTION)
    local = found.databases.local
    assert local is not None
    local.passwords.ensure("iotrack_projection")
    url = found.database(Duty.PROJECTION)
    assert url.reveal().startswith("postgresql://iotrack_projection:")
    assert url.reveal().endswith("@127.0.0.1:25000/iotrack")
    assert local.passwords.read("iotrack_projection").reveal() not in repr(found)


@pytest.mark.parametrize(
    ("env", "key"),
    [
        ({"IOTRACK_KAFKA_TLS": "maybe"}, "IOTRACK_KAFKA_TLS"),
        ({"IOTRACK_KAFKA_USERNAME": "customs"}, "IOTRACK_KAFKA_USERNAME"),
        ({"KAFKA_BOOTSTRAP_SERVERS": "k:9092", "IOTRACK_KAFKA_TLS": "1"}, "IOTRACK_KAFKA_TLS"),
        (
            {"KAFKA_BOOTSTRAP_SERVERS": "k:9092", "IOTRACK_KAFKA_SECURITY": "PLAINTEXT"},
            "IOTRACK_KAFKA_SECURITY",
        ),
        (
            {"KAFKA_BOOTSTRAP_SERVERS": "k:9092", "IOTRACK_KAFKA_MECHANISM": "GSSAPI"},
            "IOTRACK_KAFKA_MECHANISM",
        ),
        (
            {
                "KAFKA_BOOTSTRAP_SERVERS": "k:9092",
                "IOTRACK_KAFKA_SECURITY": "SASL_PLAINTEXT",
                "IOTRACK_KAFKA_MECHANISM": "PLAIN",
            },
            "IOTRACK_KAFKA_MECHANISM",
        ),
        (
            {"KAFKA_BOOTSTRAP_SERVERS": "k:9092", "IOTRACK_KAFKA_CA_FILE": "/nonexistent.pem"},
            "IOTRACK_KAFKA_CA_FILE",
        ),
        (
            {"KAFKA_BOOTSTRAP_SERVERS": "k:9092", "IOTRACK_KAFKA_USERNAME": "customs"},
            "IOTRACK_KAFKA_PASSWORD",
        ),
        (
            {"KAFKA_BOOTSTRAP_SERVERS": "k:9092", "IOTRACK_KAFKA_CREDENTIALS_FILE": "/nonexistent"},
            "IOTRACK_KAFKA_CREDENTIALS_FILE",
        ),
    ],
)
def test_a_bad_kafka_security_setting_is_refused_naming_its_key(env, key):
    with pytest.raises(ConfigError, match=key):
        load(env)


def test_a_given_cluster_signs_in_with_the_one_credential_given(tmp_path):
    from streams.local import runtime
    from topics.clients import Protocol
    from topics.parties import CORE, CUSTOMS

    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    settings = load(
        {
            "KAFKA_BOOTSTRAP_SERVERS": "k1:9093,k2:9093",
            "IOTRACK_KAFKA_CA_FILE": str(ca),
            "IOTRACK_KAFKA_USERNAME": "service.core",
            "IOTRACK_KAFKA_PASSWORD": "hunter2",
        }
    )
    assert "hunter2" not in repr(settings)
    found = runtime.endpoints(settings)
    core = found.kafka(CORE)
    assert (core.username, core.protocol, core.ca_file) == ("service.core", Protocol.SASL_SSL, ca)
    assert core.config()["sasl.password"] == "hunter2"
    assert core.config()["ssl.ca.location"] == str(ca)
    assert "hunter2" not in repr(core)
    assert found.kafka(CUSTOMS) == core, "whichever party it plays: the cluster decides"
    with pytest.raises(ConfigError, match="IOTRACK_KAFKA_USERNAME"):
        runtime.endpoints(load({"KAFKA_BOOTSTRAP_SERVERS": "k:9092"})).kafka_admin()


def test_a_credentials_file_is_read_once_and_refused_when_others_may_read_it(tmp_path):
    from topics.clients import Mechanism

    path = tmp_path / "kafka.credentials"
    path.write_text("# the core's\nusername=service.core\npassword=s3cret=with=equals\n")
    path.chmod(0o600)
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": "k:9093",
        "IOTRACK_KAFKA_CREDENTIALS_FILE": str(path),
        "IOTRACK_KAFKA_MECHANISM": "scram-sha-256",
    }
    security = load(env).kafka_security
    assert security.username == "service.core"
    assert security.password == Secret("s3cret=with=equals")
    assert security.mechanism is Mechanism.SCRAM_SHA_256
    path.chmod(0o644)
    with pytest.raises(ConfigError, match=r"IOTRACK_KAFKA_CREDENTIALS_FILE.*other users") as caught:
        load(env)
    assert "s3cret" not in str(caught.value)


def test_the_local_broker_has_a_principal_per_party_and_needs_up_or_admission(tmp_path):
    from processors.parties import PartyKind, Sender
    from streams.errors import LocalServiceError
    from streams.local import runtime
    from topics.parties import CORE

    found = runtime.endpoints(load({"IOTRACK_HOME": str(tmp_path), "IOTRACK_KAFKA_PORT": "25001"}))
    with pytest.raises(LocalServiceError, match=r"service.core.*run 'iotrack up' first"):
        found.kafka(CORE)
    terminal = Sender(PartyKind.TERMINAL, "psa-genova")
    with pytest.raises(LocalServiceError, match="iotrack parties add terminal psa-genova"):
        found.kafka(terminal)
    local = found.brokers.local
    assert local is not None
    local.passwords.ensure("service.core")
    core = found.kafka(CORE)
    assert (core.username, core.bootstrap) == ("service.core", "127.0.0.1:25001")
    assert core.password.reveal() not in repr(found)
