"""Indicators: pure functions over numpy arrays (TA-Lib underneath) and the feature set."""
