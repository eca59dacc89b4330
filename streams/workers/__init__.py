"""The long-running stream workers: the tracking core, the Postgres projection, the gate state."""
