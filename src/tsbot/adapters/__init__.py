"""Adapters: tsbot's connections to the outside world (databases, exchanges, files). They implement domain ports."""
