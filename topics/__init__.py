"""The topic catalogue, the Avro schemas and codec, and idempotent topic administration."""
