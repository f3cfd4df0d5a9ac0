"""The web dashboard's router on its own (no database): pages rendered without inline scripts, every asset they
name served, the Content-Security-Policy the router declares, and static-file caching and compression.

Bad input tried: an unknown static file, a path that climbs out of the static folder, a stale version in the URL.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tsbot.apps.api.errors import install_error_handlers
from tsbot.apps.web.pages import CACHE_IMMUTABLE, CACHE_REVALIDATE, PAGE_CSP, PAGES, web_router

_ASSET = re.compile(r'(?:src|href)="(/static/[^"]+)"')


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    app = FastAPI()
    install_error_handlers(app)
    router = web_router()
    app.include_router(router)
    app.state.router = router
    with TestClient(app) as test_client:
        yield test_client


def test_every_page_renders_without_inline_script_and_its_assets_are_served(client: TestClient) -> None:
    for path in PAGES:
        page = client.get(path)
        assert page.status_code == 200, path
        assert page.headers["content-type"].startswith("text/html")
        assert page.headers["cache-control"] == CACHE_REVALIDATE
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page.text), f"inline script on {path}"
        assert " style=" not in page.text and "onclick=" not in page.text
        assets = _ASSET.findall(page.text)
        assert any("/static/js/core.js?v=" in a for a in assets)
        for url in assets:
            answer = client.get(url)
            assert answer.status_code == 200, url
            assert answer.headers["cache-control"] == CACHE_IMMUTABLE, url
    assert "/static/plotly.min.js?v=" in client.get("/dashboard").text


def test_the_router_declares_a_strict_script_policy_for_each_page(client: TestClient) -> None:
    declared = client.app.state.router.page_csp  # type: ignore[attr-defined]
    assert set(declared) == set(PAGES) and set(declared.values()) == {PAGE_CSP}
    directives = dict(d.strip().split(" ", 1) for d in PAGE_CSP.split(";"))
    assert directives["script-src"] == "'self'" and directives["default-src"] == "'none'"
    assert directives["connect-src"] == "'self'" and directives["frame-ancestors"] == "'none'"


def test_static_files_are_cached_by_version_and_compressed_when_asked(client: TestClient) -> None:
    url = next(u for u in _ASSET.findall(client.get("/login").text) if "base.css" in u)
    name, version = url.split("?v=")
    plain = client.get(name, headers={"Accept-Encoding": "identity"})
    assert plain.headers["cache-control"] == CACHE_REVALIDATE  # no version asked: revalidate
    assert plain.headers["etag"] == f'"{version}"' and "content-encoding" not in plain.headers
    stale = client.get(f"{name}?v=0000", headers={"Accept-Encoding": "identity"})
    assert stale.headers["cache-control"] == CACHE_REVALIDATE  # an old version is never cached for long
    again = client.get(url, headers={"If-None-Match": f'"{version}"'})
    assert again.status_code == 304 and again.content == b""
    packed = client.get(url, headers={"Accept-Encoding": "gzip"})
    assert packed.headers["content-encoding"] == "gzip" and packed.headers["vary"] == "Accept-Encoding"
    raw = client.get(url, headers={"Accept-Encoding": "identity"}).content
    assert packed.content == raw  # httpx decoded the gzip body
    assert int(packed.headers["content-length"]) < len(raw) / 2


def test_plotly_comes_from_the_installed_package(client: TestClient) -> None:
    answer = client.get("/static/plotly.min.js")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/javascript")
    assert "plotly.js v" in answer.text[:200]


def test_unknown_and_climbing_static_paths_are_not_found(client: TestClient) -> None:
    for path in ("/static/nothing.js", "/static/../pages.py", "/static/js/../../pages.py", "/static/"):
        answer = client.get(path)
        assert answer.status_code == 404, path
        assert "def web_router" not in answer.text


def test_pages_stay_out_of_the_openapi_schema(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert schema["paths"] == {}
