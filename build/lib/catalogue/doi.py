"""DOIs on Zenodo: what the lifecycle asks for, recorded now, carried out by a worker.

A lifecycle change never waits for Zenodo: it records the wanted action in a
ZenodoSync row (inside the caller's transaction) and queues the task on commit.
"""

from django.db import transaction

from .models import Dataset, ZenodoSync

Wanted = ZenodoSync.Wanted

# A pending deposit already carries the latest metadata: an update cannot replace it.
_STRONGER = {Wanted.PUBLISH, Wanted.NEW_VERSION}


def schedule_sync(dataset: Dataset, wanted: str) -> None:
    if not dataset.organisation.dois_enabled:
        return
    if wanted == Wanted.CLOSE and not dataset.zenodo_deposition_id:
        # Nothing was deposited yet: forget any pending deposit instead of closing.
        ZenodoSync.objects.filter(dataset=dataset).delete()
        return
    sync = ZenodoSync.objects.select_for_update().filter(dataset=dataset).first()
    if sync is None:
        ZenodoSync.objects.create(dataset=dataset, wanted=wanted)
    elif not (wanted == Wanted.UPDATE and sync.wanted in _STRONGER):
        sync.wanted = wanted
        sync.last_error = ""
        sync.save(update_fields=["wanted", "last_error"])
    from . import tasks

    transaction.on_commit(lambda: tasks.sync_zenodo.delay(str(dataset.pk)))
