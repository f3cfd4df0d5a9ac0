"""Background work: the monitoring cycle's schedule, and the Dramatiq broker, actors and fan-out that spread the
cycle's per-series work and the notification sends over ``tsbot worker`` processes."""
