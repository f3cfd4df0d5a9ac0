"""Signals: the technical score, fusion with sentiment (and ML), explanations, and the scan service."""
