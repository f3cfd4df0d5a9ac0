"""Ports of the ML domain: the model registry, and the source of the scorer a scan uses."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from tsbot.ml.models import ModelRecord

if TYPE_CHECKING:
    from tsbot.ml.scoring import MlScorer


class ModelRegistry(Protocol):
    """Trained models with their artifacts, versioned per name, one active per name."""

    async def save(self, record: ModelRecord, artifact: bytes) -> ModelRecord:
        """Store a new model; returns the record with its ``id``, ``version`` (last version of that name + 1, 1 for
        the first) and ``created_at`` (now, UTC) set, not active. ``record.id``, ``version`` and ``is_active`` are
        ignored."""
        ...

    async def activate(self, model_id: int) -> ModelRecord:
        """Make a model the active one of its name, and no other of that name, in one transaction.

        Raises:
            tsbot.core.errors.NotFoundError: no model has this id.
        """
        ...

    async def active(self, name: str) -> tuple[ModelRecord, bytes] | None:
        """The active model of a name and its artifact, or None when none is active."""
        ...

    async def list(self, name: str | None = None) -> list[ModelRecord]:
        """Models (without artifacts), of one name or all, newest first (by name, then version descending)."""
        ...

    async def get(self, model_id: int) -> ModelRecord | None:
        """One model's record, or None."""
        ...


class MlScorerSource(Protocol):
    """Where a scan gets its ML scorer from (the active model, loaded once)."""

    async def scorer(self) -> MlScorer | None:
        """The scorer of the active model, or None when no model is active (the scan then leaves ML out)."""
        ...
