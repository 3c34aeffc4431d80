"""tapeflow's recorder: the DuckDB event log of every message and step."""
