"""Brokers: adapters of :class:`tsbot.trading.ports.Broker` that send orders to live venues."""
