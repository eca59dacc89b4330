"""Who writes and reads each topic: declared for every topic, and consistent with the catalogue."""

from __future__ import annotations

from topics.catalog import CATALOG, CORE_CHANGELOG, CORE_INPUTS, DECLARATIONS
from topics.parties import DESCRIPTIONS, Party


def test_every_topic_has_a_writer_and_every_topic_but_declarations_a_reader():
    for topic in CATALOG:
        assert topic.writers, topic.name
        assert len(set(topic.writers)) == len(topic.writers), topic.name
        assert len(set(topic.readers)) == len(topic.readers), topic.name
    assert [t.name for t in CATALOG if not t.readers] == [DECLARATIONS.name]


def test_the_core_reads_its_inputs_and_its_changelog_and_nothing_else():
    read_by_core = {t.name for t in CATALOG if Party.CORE in t.readers}
    assert read_by_core == {t.name for t in (*CORE_INPUTS, CORE_CHANGELOG)}


def test_only_the_core_touches_its_changelog():
    assert CORE_CHANGELOG.writers == CORE_CHANGELOG.readers == (Party.CORE,)


def test_every_party_takes_part_and_is_described():
    named = {party for topic in CATALOG for party in (*topic.writers, *topic.readers)}
    assert named == set(Party)
    assert set(DESCRIPTIONS) == set(Party)
    assert Party.CUSTOMS.outside
    assert not Party.CORE.outside
