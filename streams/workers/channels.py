"""Which catalogued topic each output channel of the tracking core goes to."""

from __future__ import annotations

from collections.abc import Mapping

from processors.core import Channel
from topics import catalog

CHANNEL_TOPICS: Mapping[Channel, catalog.Topic] = {
    Channel.BINDINGS: catalog.BINDINGS,
    Channel.IOT_STATE: catalog.IOT_STATE,
    Channel.VERDICT_BY_IOT: catalog.CLEARANCE_BY_IOT,
    Channel.VERDICT_BY_ITU: catalog.CLEARANCE_BY_ITU,
    Channel.DEVIATIONS: catalog.DEVIATIONS,
    Channel.REFUSALS: catalog.DEAD_LETTERS,
    Channel.LOADING_LISTS: catalog.LOADING_LISTS,
    Channel.MANIFESTS: catalog.MANIFESTS,
    Channel.PERMISSIONS: catalog.PERMISSIONS,
    Channel.CONSISTS: catalog.CONSISTS,
    Channel.TRAINS: catalog.TRAINS,
}
