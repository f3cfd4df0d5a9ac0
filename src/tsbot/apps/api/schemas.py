"""Bodies shared by the API's routers.

:class:`Page` is the shape of every list answer: ``{"items": [...], "total": n, "limit": l, "offset": o}``::

    @router.get("/api/v1/things")
    async def things(limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0)) -> Page[ThingOut]:
        return Page[ThingOut](items=[...], total=n, limit=limit, offset=offset)
"""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel, Field

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of a list: ``items`` from position ``offset`` (0-based), at most ``limit`` of them, out of
    ``total`` matching the filters."""

    items: list[T]
    total: int = Field(ge=0, description="items matching the filters, over all pages")
    limit: int = Field(ge=1, description="the most items one page holds")
    offset: int = Field(ge=0, description="position of the first item of this page among all")
