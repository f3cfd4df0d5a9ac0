"""Markets: instruments, timeframes, candle frames, and the ports to stores and data sources."""
