"""The ``tsbot`` command line (typer + rich)."""
