"""Every table of tsbot's database: :data:`metadata` holds the tables of :mod:`tsbot.adapters.storage.tables` and
of each module below, which define their tables on the same ``MetaData`` (its naming convention included).

Import ``metadata`` from here (Alembic's environment, schema comparisons, test clean-up), never from ``tables``,
so no table is left out. A new group of tables gets its own module, imported below.
"""

from __future__ import annotations

import tsbot.adapters.storage.tables_config  # noqa: F401
import tsbot.adapters.storage.tables_jobs  # noqa: F401
import tsbot.adapters.storage.tables_messaging  # noqa: F401
import tsbot.adapters.storage.tables_monitor  # noqa: F401
import tsbot.adapters.storage.tables_notify  # noqa: F401
import tsbot.adapters.storage.tables_revisions  # noqa: F401
import tsbot.adapters.storage.tables_watch  # noqa: F401
from tsbot.adapters.storage.tables import metadata

__all__ = ["metadata"]
