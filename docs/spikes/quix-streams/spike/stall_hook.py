"""Test-only hook: when the file named by SPIKE_STALL_FILE exists, the transactional producer's
commit_transaction sleeps 60 s first, i.e. after the checkpoint produced and flushed its changelog
records and before the transaction commits. A SIGKILL then leaves a transaction open that holds
changelog records (the window a real crash hits by chance)."""
import os
import time

from quixstreams import internal_producer as ip

_commit = ip.InternalProducer.commit_transaction


def commit_transaction(self, *a, **kw):
    f = os.environ.get("SPIKE_STALL_FILE")
    if f and os.path.exists(f):
        open(f + ".reached", "w").close()
        time.sleep(60)
    return _commit(self, *a, **kw)


ip.InternalProducer.commit_transaction = commit_transaction
