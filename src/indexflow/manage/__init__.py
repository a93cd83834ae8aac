"""The facade's collaborators: documents, plans, chunks, profiles, maintenance, API keys
and webhooks.

Each is built by ``Indexflow`` from one shared ``Context`` (the runtime and the task sender)
and returns typed views (``indexflow.views``). A change is committed in one transaction
first (search reads visibility from the database, so it is visible at once); then the store
is cleaned and follow-up work is sent.
"""

from indexflow.manage.chunks import Chunks
from indexflow.manage.context import Context
from indexflow.manage.documents import Documents
from indexflow.manage.keys import Keys
from indexflow.manage.maintenance import Maintenance
from indexflow.manage.plans import Plans
from indexflow.manage.profiles import Profiles
from indexflow.manage.webhooks import Webhooks

__all__ = ["Chunks", "Context", "Documents", "Keys", "Maintenance", "Plans", "Profiles", "Webhooks"]
