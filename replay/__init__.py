"""tapeflow's replay: re-running components from the event log, and timing reports."""
