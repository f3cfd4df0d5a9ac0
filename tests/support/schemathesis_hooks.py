"""schemathesis hooks of ``tests/integration/api/test_api_schemathesis.py`` (loaded through ``SCHEMATHESIS_HOOKS``).

The fuzzing administrator must not change its own account through the admin routes: resetting its two-factor
sign-in, deactivating or deleting it ends every session of the account, and the rest of the pass would then run
signed out, every call a 401 that proves nothing. Cases that would (any method but GET on a ``user_id`` equal to
``TSBOT_FUZZ_ADMIN_ID``) are not sent; the same routes on every other id still are.
"""

from __future__ import annotations

import os
from typing import Any

import schemathesis

#: The fuzzing administrator's user id, set by the test.
OWN_ID = os.environ.get("TSBOT_FUZZ_ADMIN_ID", "")


@schemathesis.hook
def filter_case(context: Any, case: Any) -> bool:
    own = OWN_ID and (case.path_parameters or {}).get("user_id") == OWN_ID
    return not (own and case.method.upper() != "GET")
