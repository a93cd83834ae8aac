"""What the facade returns: typed, plain views (never ORM objects).

Every public method of ``Indexflow`` and its collaborators returns one of these. They are
pydantic models, so the HTTP API serves them as its ``response_model`` and the CLI prints
``view.to_dict()`` as JSON; timestamps are ISO 8601 strings in UTC with their offset.
"""

from indexflow.views.base import View, iso
from indexflow.views.chunks import ChunkList, ChunkToggle, ChunkView
from indexflow.views.documents import (
    Accepted,
    DocumentList,
    DocumentRemoval,
    DocumentReport,
    DocumentView,
    IngestReport,
    Registered,
)
from indexflow.views.evaluation import EvalMiss, EvalReport, GateResult, ProfileScores
from indexflow.views.keys import ROLES, CreatedKey, KeyView, Principal
from indexflow.views.maintenance import Health, PurgeReport, ReconcileReport, WorkerView
from indexflow.views.plans import PlanChanges, PlanView, Progress, document_status, retrying
from indexflow.views.profiles import ProfileActivation, ProfileDeactivation, ProfileList, ProfileView
from indexflow.views.search import (
    DocumentGroup,
    DocumentSearchResponse,
    Hit,
    HitBundle,
    HitChunk,
    HitDocument,
    SearchResponse,
)
from indexflow.views.webhooks import CreatedWebhook, WebhookList, WebhookView

__all__ = [
    "ROLES",
    "Accepted",
    "ChunkList",
    "ChunkToggle",
    "ChunkView",
    "CreatedKey",
    "CreatedWebhook",
    "DocumentGroup",
    "DocumentList",
    "DocumentRemoval",
    "DocumentReport",
    "DocumentSearchResponse",
    "DocumentView",
    "EvalMiss",
    "EvalReport",
    "GateResult",
    "Health",
    "Hit",
    "HitBundle",
    "HitChunk",
    "HitDocument",
    "IngestReport",
    "KeyView",
    "PlanChanges",
    "PlanView",
    "Principal",
    "ProfileActivation",
    "ProfileDeactivation",
    "ProfileList",
    "ProfileScores",
    "ProfileView",
    "Progress",
    "PurgeReport",
    "ReconcileReport",
    "Registered",
    "SearchResponse",
    "View",
    "WebhookList",
    "WebhookView",
    "WorkerView",
    "document_status",
    "iso",
    "retrying",
]
