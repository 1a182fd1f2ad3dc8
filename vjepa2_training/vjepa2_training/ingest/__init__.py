"""Data ingestion into the training episode format (simulator play data; see :mod:`.sim_collect`)."""
