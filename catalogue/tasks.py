from celery import shared_task


@shared_task(name="catalogue.tasks.sync_zenodo")
def sync_zenodo(dataset_id: str) -> str:
    from . import zenodo_sync

    return zenodo_sync.run(dataset_id)


@shared_task(name="catalogue.tasks.retry_pending_zenodo_syncs")
def retry_pending_zenodo_syncs() -> int:
    from . import zenodo_sync

    return zenodo_sync.retry_pending()
