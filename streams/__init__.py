"""The Kafka-facing shells: the command line, local services, settings, workers and projection."""
