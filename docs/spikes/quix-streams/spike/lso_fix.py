"""Candidate fix (a monkeypatch, for the spike only): Quix's RecoveryManager takes each changelog
partition's recovery target from get_watermark_offsets() on the application's read_committed
consumer, which answers the last stable offset. Take the high watermark instead, from a
read_uncommitted consumer, so the read_committed restore waits out any open transaction below it
(as Kafka Streams does since KAFKA-10167)."""
import logging

from confluent_kafka import Consumer
from quixstreams.state import recovery as r

log = logging.getLogger("spike.lso_fix")
_gen = r.RecoveryManager._generate_recovery_partitions
_hw_consumer = None


class _HighWatermarks:
    def __init__(self, consumer):
        self._c = consumer

    def __getattr__(self, name):
        return getattr(self._c, name)

    def get_watermark_offsets(self, partition, timeout=None, cached=False):
        global _hw_consumer
        if _hw_consumer is None:
            import common
            _hw_consumer = Consumer({"bootstrap.servers": common.BOOTSTRAP,
                                     "group.id": "spike-hw-probe",
                                     "isolation.level": "read_uncommitted"})
        lo, hi = _hw_consumer.get_watermark_offsets(partition, timeout=timeout or 10)
        lso = self._c.get_watermark_offsets(partition, timeout=timeout)[1]
        if hi != lso:
            log.warning("SPIKE lso_fix %s[%s]: target high watermark %s, not last stable offset %s",
                        partition.topic, partition.partition, hi, lso)
        return lo, hi


def _generate_recovery_partitions(self, *a, **kw):
    real = self._consumer
    self._consumer = _HighWatermarks(real)
    try:
        return _gen(self, *a, **kw)
    finally:
        self._consumer = real


r.RecoveryManager._generate_recovery_partitions = _generate_recovery_partitions
