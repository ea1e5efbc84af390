"""What the catalogue tells the tracer: one trace per lifecycle action, recorded in
the action's own transaction. Only ids and hashes: never a title, a name or a reason."""

from __future__ import annotations

from tracer.models import Action as TraceAction
from tracer.models import UpdateDetail
from tracer.services import hash_resource, metadata_hash, record, record_many

from .models import Dataset, LifecycleEvent

CALLER = "hub.catalogue"
Action = LifecycleEvent.Action
DETAILS = {
    Action.RELEASE: UpdateDetail.RELEASE,
    Action.PUBLISH: UpdateDetail.PUBLISH,
    Action.UNPUBLISH: UpdateDetail.UNPUBLISH,
    Action.INVALIDATE: UpdateDetail.INVALIDATE,
    Action.REACTIVATE: UpdateDetail.REACTIVATE,
}


def _metadata_resource(dataset: Dataset) -> dict:
    """The dataset's description as it stands, hashed (what a later check compares)."""
    fields = (*Dataset.DESCRIPTIVE_FIELDS, *Dataset.EDITABLE_FIELDS, "version")
    document = {name: getattr(dataset, name) for name in fields}
    return hash_resource("metadata", metadata_hash(document))


def _resources(dataset: Dataset) -> list[dict]:
    """The metadata hash, and one hash over the provider's study list (ids with their
    SHA3-256): it commits to every study without showing a study id, which may be an
    accession number, and stays one entry however many studies there are."""
    resources = [_metadata_resource(dataset)]
    if dataset.studies:
        resources.append(hash_resource("studies", metadata_hash({"studies": dataset.studies})))
    return resources


def trace_lifecycle(
    dataset: Dataset, action: str, by, *, changed=(), previous: Dataset | None = None
) -> None:
    if action in (Action.CREATE, Action.NEW_VERSION):
        record(
            action=TraceAction.CREATE_DATASET,
            caller=CALLER,
            user=by,
            dataset_ids=[str(dataset.pk)],
            resources=_resources(dataset),
            subject_id=str(previous.pk) if previous else "",
            organisation_ids={str(dataset.pk): dataset.organisation_id},
        )
        return
    if action == Action.EDIT:
        details = []
        if "license" in changed:
            details.append(UpdateDetail.LICENSE_UPDATED)
        if set(changed) - {"license"}:
            details.append(UpdateDetail.METADATA_UPDATED)
        for detail in details:
            _update(dataset, by, detail, [_metadata_resource(dataset)])
        return
    _update(dataset, by, DETAILS[action])


def trace_harvested(datasets: list[Dataset], *, released: bool) -> None:
    """The creation (and release) traces of datasets a harvest run added, in one go."""
    entries = []
    for dataset in datasets:
        ids = [str(dataset.pk)]
        entries.append(
            {
                "action": TraceAction.CREATE_DATASET,
                "caller": CALLER,
                "dataset_ids": ids,
                "resources": _resources(dataset),
            }
        )
        if released:
            entries.append(
                {
                    "action": TraceAction.UPDATE_DATASET,
                    "caller": CALLER,
                    "dataset_ids": ids,
                    "details": UpdateDetail.RELEASE,
                }
            )
    if entries:
        record_many(entries, organisation_ids={str(d.pk): d.organisation_id for d in datasets})


def trace_pid_update(dataset: Dataset) -> None:
    """The DOI the worker registered (no user acted: the hub did)."""
    _update(dataset, None, UpdateDetail.PID_UPDATED)


def _update(dataset: Dataset, by, detail: str, resources=()) -> None:
    record(
        action=TraceAction.UPDATE_DATASET,
        caller=CALLER,
        user=by,
        dataset_ids=[str(dataset.pk)],
        details=detail,
        resources=resources,
        organisation_ids={str(dataset.pk): dataset.organisation_id},
    )
