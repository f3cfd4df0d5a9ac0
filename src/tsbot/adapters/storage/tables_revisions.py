"""Revision counters of stored data (migration 0017).

``data_revisions``: one row per named data set (``signals``) whose ``revision`` grows by one in every transaction
that changes that data set, in the same transaction. A reader that remembers the revision it read before reading
the data knows, by reading it again, whether what it holds may be out of date: a process-local cache of answers
then stays exact across processes without any message between them (see :mod:`tsbot.adapters.storage.revisions`).
A missing row reads as revision 0.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, String, Table

from tsbot.adapters.storage.tables import metadata

data_revisions = Table(
    "data_revisions",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("revision", BigInteger, nullable=False),
)
