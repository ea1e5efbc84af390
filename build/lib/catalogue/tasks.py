from celery import shared_task

from . import zenodo_sync
from .zenodo import ZenodoUnavailable


# Zenodo down, rate-limited or busy, or another worker on the same dataset: retry with
# exponential backoff and jitter (up to 30 s, 1 min, 2 min ... 30 min). Errors someone
# must fix (bad token, rejected metadata) are not retried here; retry_pending_zenodo_syncs
# picks every pending row up again later, with its own longer backoff.
@shared_task(
    name="catalogue.tasks.sync_zenodo",
    autoretry_for=(ZenodoUnavailable, zenodo_sync.SyncDeferred),
    retry_backoff=30,
    retry_backoff_max=1800,
    retry_jitter=True,
    max_retries=8,
)
def sync_zenodo(dataset_id: str) -> str:
    return zenodo_sync.run(dataset_id)


@shared_task(name="catalogue.tasks.retry_pending_zenodo_syncs")
def retry_pending_zenodo_syncs() -> int:
    return zenodo_sync.retry_pending()
