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
