"""Operations: settings read once at start-up, metrics, database migrations, status."""
