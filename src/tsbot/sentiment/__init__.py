"""Sentiment: headlines, scores, the default model, and point-in-time aggregation per asset."""
