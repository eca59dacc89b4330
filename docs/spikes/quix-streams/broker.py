"""Start/stop the spike's single KRaft broker with iotrack's own code (run with the venv of iotrack's checkout, $IOTRACK).

usage: broker.py start|stop|sigterm|status   (home: $SPIKE_HOME, default ./home, client port 29092, controller 29192)
"""
import sys, os
from pathlib import Path
sys.path.insert(0, os.environ.get("IOTRACK", str(Path(__file__).resolve().parents[3])))
from streams.local.kafka import LocalKafka

HOME = Path(os.environ.get("SPIKE_HOME", Path(__file__).with_name("home")))
PORT = int(os.environ.get("SPIKE_KAFKA_PORT", "29092"))
k = LocalKafka(HOME, nodes=1, base_port=PORT, heap=os.environ.get("SPIKE_KAFKA_HEAP", "768m"))
cmd = sys.argv[1]
if cmd == "start":
    print(k.start())
elif cmd == "stop":
    k.stop()
    print("stopped")
elif cmd == "status":
    print("running" if k.running() else "down", k.nodes[0].pid())
