"""The pure core: identifiers, OCR repair, binding ledger, mission paths, clearance, rail phases.

Every processor is a function ``(state, event) -> (state, outputs)`` over plain Python values.
Nothing here imports Kafka, faust, Avro, Postgres or Prometheus libraries, nor the other iotrack
packages; the import-linter contracts in ``pyproject.toml`` (``make lint``) keep it so.
"""
