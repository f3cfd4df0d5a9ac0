"""The Telegram bot: a user's tsbot in a chat, and the reader of followed signal channels.

Commands (private chats of linked users; :mod:`tsbot.apps.bot.context` guards them): ``/start CODE`` links the chat
to a tsbot account, ``/signals``, ``/signal BTC``, ``/portfolio``, ``/positions``, ``/orders``, ``/buy``, ``/sell``
(each order waits for a Confirm button), ``/approve``, ``/alerts``, ``/stop``, ``/help``; free text goes through the
intake command parser. Posts of followed provider channels go through the signal-post reader and are tracked as
that provider's signals. :mod:`tsbot.apps.bot.runner` builds and runs it (long polling or a webhook route).
"""
