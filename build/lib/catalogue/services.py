"""Every state change of the catalogue: one function per verb, the caller explicit."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from hub.errors import (
    Conflict,
    DomainError,
    FrozenField,
    InvalidTransition,
    ValidationFailed,
    require,
)
from hub.models import Organisation
from hub.roles import can_manage_organisation

from . import doi
from .facets import SEXES, facet_keys
from .models import AccessRights, Dataset, LifecycleEvent
from .traces import trace_harvested, trace_lifecycle

Action = LifecycleEvent.Action
State = Dataset.State

LIST_FIELDS = ("keywords", "modalities", "body_parts", "diagnoses", "manufacturers", "duo_terms")
WRITABLE_FIELDS = (
    set(Dataset.DESCRIPTIVE_FIELDS)
    | set(Dataset.EDITABLE_FIELDS)
    | {
        "version",
        "source_node",
        "source_rdf",
        "normalised_rdf",
    }
)


def clean_fields(data: dict[str, Any]) -> dict[str, Any]:
    """Check values a serializer or form cannot: list contents, counts, age range.

    Raises ValidationFailed naming the field; returns the cleaned values.
    """
    unknown = set(data) - WRITABLE_FIELDS
    if unknown:
        raise ValidationFailed(
            f"Unknown field(s): {', '.join(sorted(unknown))}.", field=sorted(unknown)[0]
        )
    out = dict(data)
    for name in LIST_FIELDS:
        if name in out:
            value = out[name]
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ValidationFailed(f"{name} must be a list of strings.", field=name)
            out[name] = list(dict.fromkeys(v.strip() for v in value if v.strip()))
    for name in ("modalities", "body_parts"):
        if name in out:
            out[name] = [v.upper() for v in out[name]]
    if "duo_terms" in out:
        bad = [t for t in out["duo_terms"] if not t.startswith("DUO:")]
        if bad:
            raise ValidationFailed(
                f"duo_terms must be DUO identifiers like DUO:0000007, not {bad[0]!r}.",
                field="duo_terms",
            )
    if "sex_counts" in out:
        counts = out["sex_counts"]
        if (
            not isinstance(counts, dict)
            or set(counts) - set(SEXES)
            # None: present, count unknown (harvested records name the sexes, not counts).
            or not all(n is None or (isinstance(n, int) and n >= 0) for n in counts.values())
        ):
            raise ValidationFailed(
                f"sex_counts must map {', '.join(SEXES)} to non-negative integers.",
                field="sex_counts",
            )
    if "access_rights" in out and out["access_rights"] not in AccessRights.values:
        raise ValidationFailed(
            f"access_rights must be one of {', '.join(AccessRights.values)}.", field="access_rights"
        )
    if "studies" in out and not isinstance(out["studies"], list):
        raise ValidationFailed("studies must be a list.", field="studies")
    if "authors" in out and not isinstance(out["authors"], list):
        raise ValidationFailed("authors must be a list.", field="authors")
    return out


def _check_age_range(dataset: Dataset) -> None:
    if (
        dataset.age_min is not None
        and dataset.age_max is not None
        and dataset.age_min > dataset.age_max
    ):
        raise ValidationFailed("age_min must not be greater than age_max.", field="age_min")


def _record(
    dataset: Dataset,
    action: str,
    by,
    from_state: str = "",
    note: str = "",
    *,
    changed=(),
    previous: Dataset | None = None,
) -> None:
    """The history row shown on the page and its trace, in the caller's transaction."""
    trace_lifecycle(dataset, action, by, changed=changed, previous=previous)
    LifecycleEvent.objects.create(
        dataset=dataset,
        action=action,
        from_state=from_state,
        to_state=dataset.state,
        by=by,
        note=note,
    )


def _locked(dataset: Dataset) -> Dataset:
    return Dataset.objects.select_for_update().select_related("organisation").get(pk=dataset.pk)


def create_dataset(*, organisation: Organisation, by, **fields) -> Dataset:
    """A new draft of `organisation`; only its providers (or a hub admin) may create it."""
    require(
        can_manage_organisation(by, organisation.pk),
        "Only providers of this organisation can create its datasets.",
    )
    return _create(organisation, by, clean_fields(fields))


def _create(organisation: Organisation, by, fields: dict[str, Any], note: str = "") -> Dataset:
    for name in ("title", "description"):
        if not str(fields.get(name, "")).strip():
            raise ValidationFailed(f"{name} is required.", field=name)
    dataset = Dataset(organisation=organisation, **fields)
    _check_age_range(dataset)
    dataset.facet_keys = facet_keys(dataset)
    with transaction.atomic():
        dataset.save()
        _record(dataset, Action.CREATE, by, note=note)
    return dataset


def update_dataset(*, dataset: Dataset, by, **changes) -> Dataset:
    """Edit fields. Descriptive fields are frozen once released (409: make a new version)."""
    require(
        can_manage_organisation(by, dataset.organisation_id),
        "Only providers of this organisation can edit it.",
    )
    return _update(dataset, by, clean_fields(changes))


def _update(dataset: Dataset, by, changes: dict[str, Any], note: str = "") -> Dataset:
    with transaction.atomic():
        dataset = _locked(dataset)
        if dataset.state == State.INVALIDATED:
            raise InvalidTransition(
                "An invalidated dataset cannot be edited; reactivate it first.",
                current_state=dataset.state,
            )
        changed = {k: v for k, v in changes.items() if getattr(dataset, k) != v}
        if not changed:
            return dataset
        frozen = sorted(set(changed) & set(Dataset.DESCRIPTIVE_FIELDS))
        if frozen and dataset.is_frozen:
            raise FrozenField(
                f"{', '.join(frozen)} cannot change after release; create a new version instead.",
                fields=frozen,
                current_state=dataset.state,
            )
        for name, value in changed.items():
            setattr(dataset, name, value)
        _check_age_range(dataset)
        dataset.facet_keys = facet_keys(dataset)
        dataset.save()
        _record(
            dataset,
            Action.EDIT,
            by,
            dataset.state,
            note=" ".join(filter(None, [note, "Changed: " + ", ".join(sorted(changed))])),
            changed=changed,
        )
        if dataset.state == State.PUBLISHED:
            doi.schedule_sync(dataset, doi.Wanted.UPDATE)
    return dataset


def _transition(
    dataset: Dataset, by, action: str, note: str = "", *, check: bool = True
) -> Dataset:
    if check:
        require(
            can_manage_organisation(by, dataset.organisation_id),
            "Only providers of this organisation can change its lifecycle.",
        )
    with transaction.atomic():
        dataset = _locked(dataset)
        before = dataset.state
        dataset.apply_transition(action)
        target = dataset.state
        now = timezone.now()
        if target == State.RELEASED and not dataset.released_at:
            dataset.released_at = now
        if target == State.PUBLISHED:
            dataset.published_at = now
        if target == State.INVALIDATED:
            dataset.state_before_invalidation = before
            dataset.invalidation_reason = note
            dataset.invalidated_at = now
        dataset.save()
        _record(dataset, action, by, before, note)
    return dataset


def release_dataset(*, dataset: Dataset, by) -> Dataset:
    """Make a draft discoverable by signed-in users; freezes its descriptive content."""
    return _transition(dataset, by, Action.RELEASE)


def publish_dataset(*, dataset: Dataset, by) -> Dataset:
    """Make the metadata public and mint a DOI (when the organisation has Zenodo)."""
    with transaction.atomic():
        dataset = _transition(dataset, by, Action.PUBLISH)
        previous = dataset.previous_version
        wanted = (
            doi.Wanted.NEW_VERSION
            if previous and previous.zenodo_deposition_id
            else doi.Wanted.PUBLISH
        )
        doi.schedule_sync(dataset, wanted)
    return dataset


def unpublish_dataset(*, dataset: Dataset, by) -> Dataset:
    """Back to released; the DOI stays but its Zenodo record goes to closed access."""
    with transaction.atomic():
        dataset = _transition(dataset, by, Action.UNPUBLISH)
        doi.schedule_sync(dataset, doi.Wanted.CLOSE)
    return dataset


def invalidate_dataset(*, dataset: Dataset, by, reason: str) -> Dataset:
    """Hide the dataset everywhere but its tombstone; a DOI record is closed, never deleted."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed("A reason is required to invalidate a dataset.", field="reason")
    with transaction.atomic():
        dataset = _transition(dataset, by, Action.INVALIDATE, reason)
        doi.schedule_sync(dataset, doi.Wanted.CLOSE)
    return dataset


def reactivate_dataset(*, dataset: Dataset, by) -> Dataset:
    """Undo an invalidation: back to the state the dataset had before."""
    require(
        can_manage_organisation(by, dataset.organisation_id),
        "Only providers of this organisation can reactivate it.",
    )
    return _reactivate(dataset, by)


def _reactivate(dataset: Dataset, by) -> Dataset:
    with transaction.atomic():
        dataset = _locked(dataset)
        if dataset.state != State.INVALIDATED:
            raise InvalidTransition(
                f"Only an invalidated dataset can be reactivated; this one is {dataset.state}.",
                current_state=dataset.state,
            )
        target = dataset.state_before_invalidation or State.DRAFT
        if (
            target == State.DRAFT
            and dataset.previous_version_id
            and Dataset.objects.filter(
                previous_version_id=dataset.previous_version_id, state=State.DRAFT
            ).exists()
        ):
            raise Conflict(
                "Another draft of the same predecessor exists; invalidate it first.",
                current_state=dataset.state,
            )
        dataset.state = target
        dataset.state_before_invalidation = ""
        dataset.save()
        _record(dataset, Action.REACTIVATE, by, State.INVALIDATED, dataset.invalidation_reason)
        if target == State.PUBLISHED:
            doi.schedule_sync(dataset, doi.Wanted.UPDATE)
    return dataset


def create_new_version(*, dataset: Dataset, by, version: str = "") -> Dataset:
    """A draft copy of a released or published dataset, linked as its next version."""
    require(
        can_manage_organisation(by, dataset.organisation_id),
        "Only providers of this organisation can version it.",
    )
    return _new_version(dataset, by, version)


def _new_version(dataset: Dataset, by, version: str = "", note: str = "") -> Dataset:
    with transaction.atomic():
        dataset = _locked(dataset)
        if dataset.state not in (State.RELEASED, State.PUBLISHED):
            raise InvalidTransition(
                f"Only a released or published dataset gets a new version; this one is {dataset.state}.",
                current_state=dataset.state,
            )
        existing = Dataset.objects.filter(previous_version=dataset, state=State.DRAFT).first()
        if existing:
            raise Conflict(
                "This dataset already has a draft of its next version.", draft=str(existing.pk)
            )
        copied = {
            f: getattr(dataset, f) for f in (*Dataset.DESCRIPTIVE_FIELDS, *Dataset.EDITABLE_FIELDS)
        }
        copied |= {
            "source_node": dataset.source_node,
            "source_rdf": dataset.source_rdf,
            "normalised_rdf": dataset.normalised_rdf,
        }
        new = Dataset(
            organisation=dataset.organisation,
            previous_version=dataset,
            version=version or _next_version_label(dataset.version),
            **copied,
        )
        new.facet_keys = facet_keys(new)
        try:
            with transaction.atomic():
                new.save()
        except IntegrityError as exc:  # a concurrent request made the draft first
            raise Conflict("This dataset already has a draft of its next version.") from exc
        _record(
            new,
            Action.NEW_VERSION,
            by,
            note=" ".join(filter(None, [note, f"Next version of {dataset.pk}"])),
            previous=dataset,
        )
    return new


def _next_version_label(version: str) -> str:
    head, _, tail = version.rpartition(".")
    if tail.isdigit():
        return f"{head}.{int(tail) + 1}" if head else str(int(tail) + 1)
    return f"{version}.1"


# -- harvested records: the node is the source of truth for what it sends ------------------

WITHDRAWN_AT_SOURCE = "withdrawn at source"


def apply_harvested_record(
    *,
    organisation: Organisation,
    dataset_id: Any,
    fields: dict[str, Any],
    source: str,
    auto_release: bool = False,
) -> tuple[Dataset, str]:
    """Bring the catalogue in line with one accepted harvested record, as the hub itself.

    `dataset_id` is the latest version the record fed before (None: a new record). A new
    record enters as a draft (released at once with `auto_release`); a draft is updated in
    place; a released or published dataset whose descriptive content changed gets a new
    draft version, and the released one stays as it was. Returns the dataset now carrying
    the record and "added", "updated" or "unchanged". Raises Conflict when the provider
    invalidated the dataset on the hub (only the source's own withdrawal is undone).
    """
    fields = clean_fields({**fields, "source_node": source})
    note = f"Harvested from {source}."
    with transaction.atomic():
        if dataset_id is None:
            dataset = _create(organisation, None, fields, note=note)
            if auto_release:
                dataset = _transition(dataset, None, Action.RELEASE, check=False)
            return dataset, "added"
        dataset = (
            Dataset.objects.select_for_update().select_related("organisation").get(pk=dataset_id)
        )
        if dataset.state == State.INVALIDATED:
            if dataset.invalidation_reason != WITHDRAWN_AT_SOURCE:
                raise Conflict(
                    f"dataset {dataset.pk} was invalidated on the hub "
                    f"({dataset.invalidation_reason}); reactivate it there to take updates.",
                    current_state=dataset.state,
                )
            dataset = _reactivate_withdrawn(dataset)
            result = "updated"
        else:
            result = "unchanged"
        changed = {k: v for k, v in fields.items() if getattr(dataset, k) != v}
        descriptive = set(changed) & set(Dataset.DESCRIPTIVE_FIELDS)
        if dataset.is_frozen and not descriptive:
            # A released record's source text stays the one that was released, unless a
            # new version is made; editable fields (licence, contact...) change in place.
            changed.pop("normalised_rdf", None)
            changed.pop("source_rdf", None)
        if not changed:
            return dataset, result
        if dataset.is_frozen and descriptive:
            dataset = _new_version(dataset, None, note=note)
        return _update(dataset, None, changed, note=note), "updated"


def _reactivate_withdrawn(dataset: Dataset) -> Dataset:
    """A record back at its source: every version its withdrawal invalidated comes back."""
    latest = _reactivate(dataset, None)
    version = latest.previous_version
    while version is not None:
        version = _locked(version)
        if (
            version.state == State.INVALIDATED
            and version.invalidation_reason == WITHDRAWN_AT_SOURCE
        ):
            _reactivate(version, None)
        version = version.previous_version
    return latest


def create_harvested_datasets(
    *,
    organisation: Organisation,
    records: list[dict[str, Any]],
    source: str,
    auto_release: bool = False,
) -> list[Dataset | DomainError]:
    """apply_harvested_record for many new records at once: a first harvest adds thousands.

    Returns, in order, each new dataset, or the error that kept a record out.
    """
    note = f"Harvested from {source}."
    now = timezone.now()
    out: list[Dataset | DomainError] = []
    for fields in records:
        try:
            fields = clean_fields({**fields, "source_node": source})
            for name in ("title", "description"):
                if not str(fields.get(name, "")).strip():
                    raise ValidationFailed(f"{name} is required.", field=name)
            dataset = Dataset(organisation=organisation, **fields)
            _check_age_range(dataset)
        except DomainError as exc:
            out.append(exc)
            continue
        dataset.facet_keys = facet_keys(dataset)
        if auto_release:
            dataset.state, dataset.released_at = State.RELEASED, now
        out.append(dataset)
    datasets = [d for d in out if isinstance(d, Dataset)]
    with transaction.atomic():
        Dataset.objects.bulk_create(datasets, batch_size=500)
        events = [
            LifecycleEvent(dataset=d, action=Action.CREATE, to_state=State.DRAFT, note=note)
            for d in datasets
        ]
        if auto_release:
            events += [
                LifecycleEvent(
                    dataset=d,
                    action=Action.RELEASE,
                    from_state=State.DRAFT,
                    to_state=State.RELEASED,
                )
                for d in datasets
            ]
        LifecycleEvent.objects.bulk_create(events, batch_size=500)
        trace_harvested(datasets, released=auto_release)
    return out


def withdraw_harvested_dataset(*, dataset: Dataset) -> list[Dataset]:
    """Invalidate every live version of a dataset its source no longer lists; never delete."""
    withdrawn = []
    with transaction.atomic():
        version: Dataset | None = dataset
        while version is not None:
            version = _locked(version)
            if version.state != State.INVALIDATED:
                withdrawn.append(
                    _transition(version, None, Action.INVALIDATE, WITHDRAWN_AT_SOURCE, check=False)
                )
                doi.schedule_sync(version, doi.Wanted.CLOSE)
            version = version.previous_version
    return withdrawn
