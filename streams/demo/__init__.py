"""``iotrack demo``: a port day and a train on the embedded default."""
