"""Sentiment models behind :class:`tsbot.sentiment.ports.SentimentModel`: FinBERT through transformers, and the
loader that picks a model from :class:`tsbot.config.SentimentModelConfig`.

torch and transformers are an optional extra (``pip install "tsbot[finbert]"``); they are imported only when a
transformer model is loaded, so tsbot runs without them.
"""
