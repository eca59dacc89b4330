"""The ``iotrack`` command line: one module per command group."""
