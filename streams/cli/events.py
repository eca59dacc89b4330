"""``iotrack replay`` and ``iotrack publish``: files of events in the replay format, run through
the core offline or put onto their topics."""

from __future__ import annotations

import argparse

from streams.cli.inputs import read_text
from streams.cli.options import add_command
from streams.local import runtime
from streams.ops.settings import Settings


def _replay(settings: Settings, args: argparse.Namespace) -> int:
    from streams.replay.run import replay

    for line in replay(read_text(args.file).splitlines()):
        print(line)
    return 0


def _publish(settings: Settings, args: argparse.Namespace) -> int:
    from streams.replay.publish import publish
    from topics.codec import codec_for

    lines = read_text(args.file).splitlines()
    found = runtime.endpoints(settings)
    # Each line as its own sender: locally every party's credential is at hand; on a given
    # cluster only this process's, so the broker refuses the lines of any other party.
    count = publish(found.kafka, codec_for(settings.schema_registry_url), lines)
    print(f"published {count} events to {found.bootstrap}")
    return 0


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``replay`` and ``publish`` to ``commands``."""

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        return add_command(commands, name, help_text)

    replay_parser = command("replay", "run the tracking core over a file of events, no Kafka")
    replay_parser.add_argument("file", help='JSON lines: {"type": "iotrack.X", "value": {...}}')
    replay_parser.set_defaults(handler=_replay)
    publish_parser = command("publish", "put events (replay format) onto their topics")
    publish_parser.add_argument("file", help='JSON lines: {"type": "iotrack.X", "value": {...}}')
    publish_parser.set_defaults(handler=_publish)
