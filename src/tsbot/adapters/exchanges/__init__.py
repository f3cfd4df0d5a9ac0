"""Market data sources: ccxt exchanges and Alpaca."""
