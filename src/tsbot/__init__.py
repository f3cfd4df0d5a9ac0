"""tsbot: a trading-signals reader and AI bot for crypto and US stocks."""

__version__ = "0.1.0"
