"""Logging hooks into Quix's recovery (no behaviour change): for each RecoveryPartition, the
committed source offsets it was given (its skip threshold), the changelog watermarks and the
local store's changelog offset; and at completion, how many changelog records it applied and
how many it skipped because their processed-offset header was >= the committed offset."""
import logging

from quixstreams.state import recovery as r

log = logging.getLogger("spike.recovery")
_init = r.RecoveryPartition.__init__
_should = r.RecoveryPartition._should_apply_changelog
_complete = r.RecoveryPartition.complete_recovery


def __init__(self, *a, **kw):
    _init(self, *a, **kw)
    self._spike_applied = 0
    self._spike_skipped = 0
    self._spike_skipped_max = None
    log.warning("SPIKE recovery-partition %s[%s] committed=%s low=%s high=%s local_offset=%s",
                kw.get("changelog_name"), kw.get("partition_num"), kw.get("committed_offsets"),
                kw.get("lowwater"), kw.get("highwater"), self.offset)


def _should_apply_changelog(self, processed_offsets):
    ok = _should(self, processed_offsets)
    if ok:
        self._spike_applied += 1
    else:
        self._spike_skipped += 1
        self._spike_skipped_max = processed_offsets
    return ok


def complete_recovery(self):
    log.warning("SPIKE recovery-done %s applied=%s skipped=%s last_skipped_header=%s",
                self, getattr(self, "_spike_applied", "?"), getattr(self, "_spike_skipped", "?"),
                getattr(self, "_spike_skipped_max", None))
    return _complete(self)


r.RecoveryPartition.__init__ = __init__
r.RecoveryPartition._should_apply_changelog = _should_apply_changelog
r.RecoveryPartition.complete_recovery = complete_recovery
