"""Event files in the replay format: the core run offline over them, and publishing them."""
