"""The web console: Customs officers, terminals, train operators and operations in a browser,
served under ``/console`` by the query API's own application (see :mod:`.routes`)."""

from streams.http.console.pages import Console
from streams.http.console.routes import console_routes
from streams.http.console.sessions import Sessions

__all__ = ["Console", "Sessions", "console_routes"]
