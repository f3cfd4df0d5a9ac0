"""News and social readers: RSS and Atom feeds, Reddit listings, and a collector that reads them all at once.

Every reader turns one source into :class:`tsbot.sentiment.models.Headline` items (first seen at the time of the
read). A source that fails (HTTP error, timeout, malformed or hostile document) is reported with its reason by
:class:`tsbot.adapters.news.collect.NewsCollector`; the other sources go on.
"""
