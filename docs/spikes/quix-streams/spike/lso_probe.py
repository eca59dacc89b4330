"""Does a read_committed consumer's get_watermark_offsets() answer the high watermark or the last
stable offset? A transactional producer leaves a transaction open on a fresh topic; both
isolation levels are asked."""
import time
import uuid

from confluent_kafka import Consumer, Producer, TopicPartition

import common

t = f"lso-probe-{int(time.time())}"
common.create_topics([t], partitions=1)
time.sleep(2)
p = Producer({"bootstrap.servers": common.BOOTSTRAP, "transactional.id": str(uuid.uuid4())})
p.init_transactions()
p.begin_transaction()
for i in range(3):
    p.produce(t, value=b"committed")
p.commit_transaction()
p.begin_transaction()
for i in range(5):
    p.produce(t, value=b"open")
p.flush()
for iso in ("read_committed", "read_uncommitted"):
    c = Consumer({"bootstrap.servers": common.BOOTSTRAP, "group.id": "probe", "isolation.level": iso})
    print(iso, "get_watermark_offsets ->", c.get_watermark_offsets(TopicPartition(t, 0), timeout=10))
    c.close()
p.abort_transaction()
