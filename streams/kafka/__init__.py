"""confluent-kafka helpers of the shells: committed reads and acknowledged single sends."""
