"""Which catalogued topic each output channel of the tracking core goes to (a reply goes to the
replies topic of the party it is for: ``topic_of``)."""

from __future__ import annotations

from collections.abc import Mapping

from processors.core import Channel, Output
from topics import catalog
from topics.errors import CatalogError

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
    Channel.HOLDS: catalog.HOLDS,
    Channel.RELEASES: catalog.RELEASES,
    Channel.EXITS: catalog.EXITS,
    Channel.DECLARATIONS: catalog.DECLARATION_STATES,
}


def topic_of(output: Output) -> catalog.Topic:
    """The topic an output of the core goes to."""
    if output.channel is Channel.REPLIES:
        if output.to is None:
            raise CatalogError(f"a reply without its party: {output.key}")
        return catalog.REPLIES.for_party(output.to)
    return CHANNEL_TOPICS[output.channel]
