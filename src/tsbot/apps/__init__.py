"""Process entry points (thin: they call services)."""
