"""What a command's exit status says, decided in one table from the error that ended it.

==== ========================================================================================
code meaning
==== ========================================================================================
0    done; for a check (``validate``, ``gate-check``, ``rail ...``), the answer is yes
1    a check answered no, or a run failed (a broker or database away, a refused delivery)
2    bad input or usage: an argument, a file, a configuration value, an identifier
130  interrupted (Ctrl-C)
==== ========================================================================================

Every expected failure is one line on standard error, never a traceback.
"""

from __future__ import annotations

from processors.errors import IotrackError, ProcessorError
from readers.rail_files import RailFileError
from streams.cli.bind import BindCommandError
from streams.errors import ConfigError, InputFileError
from streams.replay.lines import ReplayInputError
from topics.errors import SchemaDefinitionError

FAILED = 1
BAD_INPUT = 2
INTERRUPTED = 130

EXIT_CODES: tuple[tuple[type[Exception], int], ...] = (
    (ConfigError, BAD_INPUT),
    (BindCommandError, BAD_INPUT),  # no answer: as the rail commands say it
    (InputFileError, BAD_INPUT),
    (ReplayInputError, BAD_INPUT),
    (RailFileError, BAD_INPUT),
    (ProcessorError, BAD_INPUT),
    (SchemaDefinitionError, BAD_INPUT),
    (IotrackError, FAILED),
)
"""Error class -> exit status, the first that matches; the most specific first. A
``ProcessorError`` reaching the command line is about what the user gave it (an identifier, a
record); every other iotrack error is a failed run."""


def exit_code(error: IotrackError) -> int:
    """The exit status for an expected error (``FAILED`` for one not in the table)."""
    for kind, code in EXIT_CODES:
        if isinstance(error, kind):
            return code
    return FAILED
