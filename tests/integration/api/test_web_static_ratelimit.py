"""The web pages' static files are left out of the per-client request limit, the pages and the API are not: a page
load fetches a dozen static files, and those must not spend the API budget.

Bad input tried: a path that climbs out of ``/static/`` to an API route (``/static/%2E%2E/api/v1/ready``), and
paths that only look like static ones (``/static`` with no slash, ``/staticfiles/x``).
"""

from __future__ import annotations

import re

from tests.integration.api.conftest import Serve
from tests.integration.api.test_api_errors import assert_error

from tsbot.apps.web.pages import web_router

_ASSET = re.compile(r'(?:src|href)="(/static/[^"]+)"')


async def test_fifty_static_fetches_leave_the_budget_while_pages_and_api_calls_spend_it(serve: Serve) -> None:
    async with serve(api={"requests_per_hour": 4}, routers=(web_router(),)) as api:
        page = await api.client.get("/dashboard")  # counted: 1 of 4
        assets = _ASSET.findall(page.text)
        fetched = [await api.client.get(assets[i % len(assets)]) for i in range(50)]
        ready = [await api.client.get("/api/v1/ready") for _ in range(3)]  # counted: 2 to 4 of 4
        over = await api.client.get("/api/v1/ready")
        page_over = await api.client.get("/dashboard")
        static_after = await api.client.get(assets[0])
    assert page.status_code == 200 and page.headers["x-ratelimit-remaining"] == "3"
    assert len(assets) >= 5 and [f.status_code for f in fetched] == [200] * 50
    assert all("x-ratelimit-remaining" not in f.headers for f in fetched)
    assert [r.headers["x-ratelimit-remaining"] for r in ready] == ["2", "1", "0"]
    assert_error(over, 429, "rate_limited")
    assert page_over.status_code == 429  # the pages stay limited
    assert static_after.status_code == 200  # static files are still served once the budget is spent


async def test_only_paths_under_static_slash_are_left_out(serve: Serve) -> None:
    async with serve(api={"requests_per_hour": 3}, routers=(web_router(),)) as api:
        climbed = await api.client.get("/static/%2E%2E/api/v1/ready")  # bad input: climbs to an API route
        bare = await api.client.get("/static")  # bad input: no slash
        lookalike = await api.client.get("/staticfiles/js/core.js")  # bad input: a longer first segment
        ready = await api.client.get("/api/v1/ready")
    assert climbed.status_code == 404 and "x-ratelimit-remaining" not in climbed.headers  # the static route
    assert_error(climbed, 404, "not_found")
    assert bare.headers["x-ratelimit-remaining"] == "2" and lookalike.headers["x-ratelimit-remaining"] == "1"
    assert ready.headers["x-ratelimit-remaining"] == "0"
