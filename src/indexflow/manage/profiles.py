"""Index profiles: encoder, tokenizer, chunking and HNSW parameters; several may serve at once."""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING, Any

from indexflow.db import documents as docs_repo
from indexflow.db import plans as plans_repo
from indexflow.db import profiles as profiles_repo
from indexflow.db.models import IndexProfile, PlanStatus
from indexflow.db.profiles import DEFAULT_PROFILE, ensure_default_profile
from indexflow.errors import ConflictError
from indexflow.limits import ENCODER_NAME_MAX, PROFILE_NAME_MAX, check_int, check_length, check_name
from indexflow.manage.context import Context
from indexflow.pipeline import machine
from indexflow.pipeline.machine import Applied
from indexflow.views import ProfileActivation, ProfileDeactivation, ProfileView

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


class Profiles:
    """``ix.profiles``: a profile with plans is immutable; clone it to change it."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def list(self) -> builtins.list[ProfileView]:
        with self._ctx.write() as s:
            ensure_default_profile(s, self._ctx.settings.default_profile)
            return [self._view(s, p) for p in profiles_repo.list_all(s)]

    def get(self, name: str) -> ProfileView:
        with self._ctx.read() as s:
            return self._view(s, profiles_repo.get_by_name(s, name))

    def _view(self, s: Session, profile: IndexProfile) -> ProfileView:
        """The profile's view; ``is_default`` marks the profile search uses when none is named
        (the one marked by ``set_default``, else the ``default_profile`` setting's, else the
        first active one), so a listing always shows it."""
        found = profiles_repo.search_default(s, self._ctx.settings.default_profile)
        is_default = found is not None and found.id == profile.id
        return ProfileView.of(profile).model_copy(update={"is_default": is_default})

    def create(self, name: str, *, activate: bool = False, **params: Any) -> ProfileView:
        """Create a profile from the default parameters overridden by ``params``.

        A new ``encoder`` brings its own tokenizer, dimension and token limit unless they are
        given. With ``activate``, returns the ``ProfileActivation`` (with the plans it started).

        Raises:
            InvalidRequest: the name is empty, too long or not one of ``limits.NAME_RULE``, or a
                parameter does not fit its column (checked before the encoder is even loaded).
        """
        check_name("profile name", name, PROFILE_NAME_MAX)
        given = _checked({k: v for k, v in params.items() if v is not None})
        if given.get("encoder") and given["encoder"] != DEFAULT_PROFILE["encoder"]:
            from indexflow.encoders.factory import get_encoder

            encoder = get_encoder(given["encoder"])  # raises ConfigurationError for an unknown model
            # An encoder may name the tokenizer it was built for (a test double uses MiniLM's).
            given.setdefault("tokenizer", getattr(encoder, "tokenizer_name", given["encoder"]))
            given.setdefault("dimension", encoder.dimension)
            given.setdefault("max_tokens", encoder.max_tokens)
            given.setdefault("chunk_size", min(DEFAULT_PROFILE["chunk_size"], encoder.max_tokens - 2))
        fields = DEFAULT_PROFILE | given
        if not fields.get("context_template"):
            fields["context_template"] = None  # "" (say, to clone without headers) means none
        with self._ctx.write() as s:
            ensure_default_profile(s, self._ctx.settings.default_profile)
            view = ProfileView.of(profiles_repo.create(s, name, **fields, is_active=False))
        return self.activate(name) if activate else view

    def clone(self, source: str, name: str, **overrides: Any) -> ProfileView:
        """A new (inactive) profile with ``source``'s parameters and ``overrides``: how to change one."""
        check_name("profile name", name, PROFILE_NAME_MAX)
        with self._ctx.read() as s:
            src = profiles_repo.get_by_name(s, source)
            fields = {f: getattr(src, f) for f in profiles_repo.PROFILE_FIELDS}
        return self.create(name, **(fields | {k: v for k, v in overrides.items() if v is not None}))

    def update(self, name: str, **changes: Any) -> ProfileView:
        """Change a profile that has no plans yet (one with plans is immutable: clone it)."""
        changes = _checked(changes)
        with self._ctx.write() as s:
            return ProfileView.of(profiles_repo.update(s, profiles_repo.get_by_name(s, name), **changes))

    def activate(self, name: str) -> ProfileActivation:
        """Activate a profile and build a plan for every active document; old profiles keep serving."""
        ctx = self._ctx
        ctx.own_home()
        applied = Applied()
        plan_ids: list[int] = []
        with ctx.write() as s:
            profile = profiles_repo.get_by_name(s, name)
            profile.is_active = True
            for document_id, version_id in docs_repo.serving_versions(s):
                plan, created = plans_repo.get_or_create(s, document_id, version_id, profile.id)
                if created or plan.status == PlanStatus.FAILED:
                    applied.merge(machine.apply(s, plan, machine.Start(), ctx.queues))
                    plan_ids.append(plan.id)
            view = ProfileView.of(profile)
        ctx.send(applied)
        return ProfileActivation(**view.model_dump(), plans_enqueued=len(plan_ids), plan_ids=plan_ids)

    def building(self, name: str) -> builtins.list[int]:
        """Ids of the profile's plans still being built (not EMBEDDED nor FAILED)."""
        with self._ctx.read() as s:
            return plans_repo.unfinished_ids(s, profiles_repo.get_by_name(s, name).id)

    def default(self) -> ProfileView | None:
        """The profile search uses when none is named (None before the first ingest)."""
        with self._ctx.read() as s:
            found = profiles_repo.search_default(s, self._ctx.settings.default_profile)
            return self._view(s, found) if found is not None else None

    def set_default(self, name: str) -> ProfileView:
        """Make ``name`` the profile search uses when none is named (it is activated too, so
        new documents get its plans). Use ``Indexflow.switch_default`` to gate it on quality."""
        with self._ctx.write() as s:
            profile = profiles_repo.get_by_name(s, name)
            profiles_repo.set_default(s, profile)
            return ProfileView.of(profile)

    def deactivate(self, name: str) -> ProfileDeactivation:
        """New documents stop getting plans of this profile; its existing index still answers
        a search that names it.

        When it was the profile a search without ``profile`` uses, search moves off it: to the
        ``default_profile`` setting's profile if that is active, else to the newest active
        profile with searchable plans (``profiles_repo.successor``), which is marked the default
        so that ``profiles list`` shows it and re-activating this one does not move search back.
        The view names that profile (``search_default``) and says so in ``note``.

        Raises:
            ConflictError: it is the last active profile.
        """
        fallback = self._ctx.settings.default_profile
        with self._ctx.write() as s:
            profile = profiles_repo.get_by_name(s, name)
            before = profiles_repo.search_default(s, fallback)
            profile.is_active = False
            if not profiles_repo.active(s):
                raise ConflictError("at least one profile must stay active")
            moved = before is not None and before.id == profile.id
            if moved:
                named = profiles_repo.find_by_name(s, fallback)
                heir = named if named is not None and named.is_active else profiles_repo.successor(s, profile)
                assert heir is not None  # another profile is active
                profiles_repo.set_default(s, heir)
            s.flush()
            view = self._view(s, profile)
            found = profiles_repo.search_default(s, fallback)
        uses = found.name if found is not None else None
        if moved:
            note = (
                f"search now uses {uses!r}; make another the default with `indexflow profiles default NAME`"
            )
        else:
            note = f"search without a profile uses {uses!r}"
        return ProfileDeactivation(**view.model_dump(), search_default=uses, note=note)


def _checked(params: dict[str, Any]) -> dict[str, Any]:
    """``params`` when every string fits its column and every integer its INTEGER column."""
    for key, value in params.items():
        if isinstance(value, str):
            check_length(key, value, ENCODER_NAME_MAX)
        elif isinstance(value, int) and not isinstance(value, bool):
            check_int(key, value)
    return params
