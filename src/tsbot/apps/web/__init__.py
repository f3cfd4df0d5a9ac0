"""The web dashboard: server-rendered pages over the platform API (see :mod:`tsbot.apps.web.pages`)."""
