"""The edge: gate reader adapters (OCR, RFID, barcode), passage fusion, a durable local spool,
the idempotent producer and hardware simulators. Device formats are documented in
``readers/README.md`` as adapters land."""
