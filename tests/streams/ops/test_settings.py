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
