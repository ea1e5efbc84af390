"""Carry out a dataset's pending ZenodoSync: deposit, update, version or close its DOI record.

Runs in the worker (catalogue.tasks.sync_zenodo), never in a request. What is deposited
is a small JSON-LD document of the dataset's public metadata, never images or clinical
data; the DOI's landing page is the dataset's page on the hub.

The work converges Zenodo on what the dataset is now, so it is safe to repeat:

- the deposition id is stored the moment Zenodo gives it, in its own transaction, and a
  later attempt resumes from it (a draft that Zenodo created but whose answer was lost is
  found again by its link to the dataset page), so a retry never makes a second deposition;
- each step first reads the deposition's state (draft, published, being edited) and does
  only what is still missing;
- two workers never work on one dataset at once (a PostgreSQL advisory lock held for the
  run; the ZenodoSync row itself is locked only for short reads and writes, so a lifecycle
  change never waits for Zenodo);
- if the dataset changed while the worker talked to Zenodo, the row stays and runs again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.utils import timezone
from django.utils.html import escape, linebreaks

from .models import Dataset, LifecycleEvent, ZenodoSync
from .traces import trace_pid_update
from .zenodo import ZenodoClient, ZenodoError

logger = logging.getLogger(__name__)

Wanted = ZenodoSync.Wanted
State = Dataset.State

METADATA_FILENAME = "agora-dataset-metadata.jsonld"
# The Zenodo record holds metadata for the dataset whose page is on the hub (DataCite IsMetadataFor).
LANDING_RELATION = "isMetadataFor"
RETRY_BASE_SECONDS = 60
RETRY_MAX_SECONDS = 6 * 3600
NOTE = (
    "This record holds the public metadata of a dataset in the Agora hub; the images stay with "
    "the provider and are not deposited on Zenodo. Access is requested through the hub: {landing}"
)


class SyncDeferred(Exception):
    """The sync cannot run right now (another worker has it, or it waits for another DOI)."""


class CannotDeposit(Exception):
    """The dataset lacks something Zenodo needs; the provider has to change the dataset."""


@dataclass
class _Claim:
    sync_id: int
    wanted: str
    modified: datetime
    resumed: bool  # an earlier attempt started (and may have created a draft before dying)


# --- entry points -----------------------------------------------------------------------


def run(dataset_id) -> str:
    """Carry out the dataset's pending ZenodoSync; returns what was done.

    Raises ZenodoUnavailable / SyncDeferred when a later retry may succeed, ZenodoError or
    CannotDeposit when someone has to fix something; the failure is stored on the row first.
    """
    with _exclusive(dataset_id):
        claimed = _claim(dataset_id)
        if claimed is None:
            return "nothing pending"
        claim, dataset = claimed
        organisation = dataset.organisation
        if not organisation.dois_enabled:
            _record_failure(
                claim, "DOIs are off for this organisation (no Zenodo token); nothing was sent."
            )
            return "skipped: no Zenodo token"
        client = ZenodoClient(
            settings.ZENODO_API_URL, organisation.zenodo_token, settings.ZENODO_TIMEOUT_SECONDS
        )
        try:
            with client:
                outcome = _converge(client, dataset, claim)
        except Exception as exc:
            message = explain(exc).replace(organisation.zenodo_token, "[token]")
            _record_failure(claim, message)
            logger.warning(
                "zenodo sync failed dataset=%s wanted=%s status=%s error=%s",
                dataset.pk,
                claim.wanted,
                getattr(exc, "status", None),
                type(exc).__name__,
            )
            raise
        return _finish(claim, dataset, outcome)


def retry_pending(now: datetime | None = None) -> int:
    """Queue again every pending sync whose last attempt is older than its backoff."""
    from . import tasks

    now = now or timezone.now()
    queued = 0
    rows = ZenodoSync.objects.exclude(dataset__organisation__zenodo_token="").values_list(
        "dataset_id", "attempts", "last_attempt_at", "created"
    )
    for dataset_id, attempts, last_attempt_at, created in rows:
        if now - (last_attempt_at or created) >= retry_delay(attempts):
            tasks.sync_zenodo.delay(str(dataset_id))
            queued += 1
    return queued


def retry_delay(attempts: int) -> timedelta:
    """1, 1, 2, 4, 8 ... minutes after the last attempt, at most 6 hours."""
    return timedelta(seconds=min(RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0), RETRY_MAX_SECONDS))


def explain(exc: Exception) -> str:
    """The failure in words a provider (or the hub administrator) can act on."""
    if isinstance(exc, CannotDeposit | SyncDeferred):
        return str(exc)
    if not isinstance(exc, ZenodoError):
        return (
            f"Unexpected error in the hub ({type(exc).__name__}); it will be retried, and the "
            "worker log has the details."
        )
    status, detail = exc.status, exc.message
    fields = exc.field_errors()
    if status is None:
        return f"Zenodo could not be reached ({detail}); the hub will try again automatically."
    if status == 401:
        return (
            "Zenodo did not accept this organisation's access token (HTTP 401). A hub administrator "
            "must set a valid Zenodo personal access token for the organisation."
        )
    if status == 403:
        return (
            f"Zenodo refused the request (HTTP 403: {detail}). The token needs the deposit:write and "
            "deposit:actions scopes, and the record must belong to the token's Zenodo account."
        )
    if status == 429:
        return "Zenodo is limiting the rate of requests (HTTP 429); the hub will try again automatically."
    if status == 409:
        return "Zenodo is still processing the record (HTTP 409); the hub will try again automatically."
    if status >= 500:
        return f"Zenodo is unavailable (HTTP {status}); the hub will try again automatically."
    return f"Zenodo rejected the record (HTTP {status}): {detail}" + (
        f" ({fields})" if fields else ""
    )


# --- what is deposited ------------------------------------------------------------------


def landing_url(dataset: Dataset) -> str:
    return settings.SITE_URL + dataset.get_absolute_url()


_CC = re.compile(r"^https?://(www\.)?creativecommons\.org/licenses/([a-z-]+)/(\d\.\d)")
_CC0 = re.compile(r"^https?://(www\.)?creativecommons\.org/publicdomain/zero/1\.0")
_ODC = re.compile(r"^https?://(www\.)?opendatacommons\.org/licenses/(by|odbl|pddl)(/|$)")
_SPDX = re.compile(
    r"^https?://(spdx\.org/licenses|opensource\.org/licenses?)/([a-z0-9.+-]+?)(\.html|\.json)?/?$"
)


def zenodo_license(url: str) -> str | None:
    """Zenodo's license id for a license URL (Creative Commons, Open Data Commons, SPDX)."""
    url = (url or "").strip().lower()
    if m := _CC.match(url):
        return f"cc-{m[2]}-{m[3]}"
    if _CC0.match(url):
        return "cc0-1.0"
    if m := _ODC.match(url):
        return f"odc-{m[2]}-1.0"
    if m := _SPDX.match(url):
        return m[2]
    return None


def _orcid(value) -> str:
    value = str(value or "").strip().rsplit("/", 1)[-1].upper()
    return value if re.fullmatch(r"\d{4}-\d{4}-\d{4}-\d{3}[\dX]", value) else ""


def _creators(dataset: Dataset) -> list[dict]:
    creators = []
    for author in dataset.authors or []:
        if isinstance(author, str):
            author = {"name": author}
        if not isinstance(author, dict) or not str(author.get("name") or "").strip():
            continue
        creator = {"name": str(author["name"]).strip()}
        if author.get("affiliation"):
            creator["affiliation"] = str(author["affiliation"])
        if orcid := _orcid(author.get("orcid")):
            creator["orcid"] = orcid
        creators.append(creator)
    return creators or [{"name": dataset.organisation.name}]


def deposition_metadata(dataset: Dataset, *, open_access: bool, publication_date: str = "") -> dict:
    """The Zenodo metadata of the dataset's record: open while published, closed otherwise."""
    organisation = dataset.organisation
    landing = landing_url(dataset)
    published = dataset.published_at or timezone.now()
    contributors = [{"name": organisation.name, "type": "HostingInstitution"}]
    if dataset.contact_name.strip():
        contributors.append({"name": dataset.contact_name.strip(), "type": "ContactPerson"})
    metadata = {
        "upload_type": "dataset",
        "title": dataset.title,
        "description": linebreaks(dataset.description, autoescape=True),
        "creators": _creators(dataset),
        "contributors": contributors,
        "access_right": "open" if open_access else "closed",
        "publication_date": publication_date or published.date().isoformat(),
        "version": dataset.version,
        "related_identifiers": [
            {"identifier": landing, "relation": LANDING_RELATION, "resource_type": "dataset"}
        ],
        "notes": escape(NOTE.format(landing=landing)),
    }
    if dataset.keywords:
        metadata["keywords"] = list(dataset.keywords)
    license_id = zenodo_license(dataset.license)
    if license_id:
        metadata["license"] = license_id
    elif open_access:
        raise CannotDeposit(
            f"The dataset's license ({dataset.license or 'none'}) has no Zenodo licence identifier; "
            "an open Zenodo record needs one. Set the license to a Creative Commons, Open Data "
            "Commons or SPDX licence URL."
        )
    if organisation.zenodo_community:
        metadata["communities"] = [{"identifier": organisation.zenodo_community}]
    return metadata


def metadata_document(dataset: Dataset) -> bytes:
    """The file deposited with the record: schema.org JSON-LD of what is fixed at release.

    Only the public, frozen description (a file cannot change after publication on
    Zenodo; editable fields such as license and contact live in the record's metadata).
    """
    organisation = dataset.organisation
    landing = landing_url(dataset)
    publisher = {"@type": "Organization", "name": organisation.name}
    if organisation.homepage:
        publisher["url"] = organisation.homepage
    document = {
        "@context": "https://schema.org/",
        "@type": "Dataset",
        "@id": landing,
        "url": landing,
        "name": dataset.title,
        "description": dataset.description,
        "version": dataset.version,
        "keywords": list(dataset.keywords or []),
        "measurementTechnique": list(dataset.modalities or []),
        "publisher": publisher,
        "includedInDataCatalog": {
            "@type": "DataCatalog",
            "name": settings.CATALOGUE_TITLE,
            "url": settings.SITE_URL + "/",
        },
        "conditionsOfAccess": NOTE.format(landing=landing),
    }
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False).encode()


# --- the work ---------------------------------------------------------------------------


def _lock_key(dataset_id) -> int:
    digest = hashlib.sha256(f"agora.catalogue.zenodo_sync:{dataset_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextmanager
def _exclusive(dataset_id):
    """One worker per dataset: a session advisory lock, released on exit or when the worker dies.

    SQLite (the embedded hub) has one worker and serialised writes, so nothing to do there.
    """
    if connection.vendor != "postgresql":
        yield
        return
    key = _lock_key(dataset_id)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
        acquired = cursor.fetchone()[0]
    if not acquired:
        raise SyncDeferred("Another worker is updating this dataset's Zenodo record.")
    try:
        yield
    finally:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [key])
        except DatabaseError:  # the connection is broken; closing it frees the lock
            logger.warning("could not release zenodo sync lock dataset=%s", dataset_id)


def _claim(dataset_id) -> tuple[_Claim, Dataset] | None:
    with transaction.atomic():
        sync = ZenodoSync.objects.select_for_update().filter(dataset_id=dataset_id).first()
        if sync is None:
            return None
        dataset = Dataset.objects.select_related("organisation", "previous_version").get(
            pk=dataset_id
        )
        claim = _Claim(
            sync.pk, sync.wanted, dataset.modified, resumed=sync.last_attempt_at is not None
        )
        sync.last_attempt_at = timezone.now()
        sync.save(update_fields=["last_attempt_at"])
    return claim, dataset


def _store(dataset: Dataset, **fields) -> None:
    """Write Zenodo's answer at once, in its own transaction (and without touching `modified`)."""
    with transaction.atomic():
        Dataset.objects.filter(pk=dataset.pk).update(**fields)
    for name, value in fields.items():
        setattr(dataset, name, value)


def _record_failure(claim: _Claim, message: str) -> None:
    with transaction.atomic():
        sync = ZenodoSync.objects.select_for_update().filter(pk=claim.sync_id).first()
        if sync is not None:
            sync.attempts += 1
            sync.last_error = message[:2000]
            sync.save(update_fields=["attempts", "last_error"])


def _current_deposition(client: ZenodoClient, dataset: Dataset) -> dict | None:
    if not dataset.zenodo_deposition_id:
        return None
    try:
        return client.get(dataset.zenodo_deposition_id)
    except ZenodoError as exc:
        if exc.status in (404, 410) and not dataset.doi:
            # An unpublished draft removed at Zenodo (e.g. by hand): start again.
            _store(dataset, zenodo_deposition_id="")
            return None
        raise


def _find_lost_draft(client: ZenodoClient, dataset: Dataset) -> dict | None:
    """A draft an earlier attempt created but never heard back about, known by its link to us."""
    landing = landing_url(dataset)
    for deposition in client.list_depositions(status="draft"):
        related = (deposition.get("metadata") or {}).get("related_identifiers") or []
        if not deposition.get("submitted") and any(r.get("identifier") == landing for r in related):
            return deposition
    return None


def _start_deposition(
    client: ZenodoClient, dataset: Dataset, claim: _Claim, metadata: dict
) -> dict:
    previous = dataset.previous_version
    if previous is not None and previous.zenodo_deposition_id:
        if not previous.doi:
            raise SyncDeferred("Waiting for the previous version's DOI to be registered on Zenodo.")
        # Asking again returns the same draft, so this step needs no bookkeeping to be repeatable.
        draft_id = ZenodoClient.latest_draft_id(client.new_version(previous.zenodo_deposition_id))
        if str(draft_id) == previous.zenodo_deposition_id:
            raise ZenodoError("Zenodo did not open a new version of the previous record.")
        _store(dataset, zenodo_deposition_id=str(draft_id))
        return client.get(draft_id)
    deposition = _find_lost_draft(client, dataset) if claim.resumed else None
    if deposition is None:
        deposition = client.create_deposition(metadata)
    _store(dataset, zenodo_deposition_id=str(deposition["id"]))
    return deposition


def _converge(client: ZenodoClient, dataset: Dataset, claim: _Claim) -> str:
    """Make the Zenodo record match the dataset: open while published, closed otherwise."""
    open_access = dataset.state == State.PUBLISHED
    # Built first, so a dataset Zenodo would refuse (e.g. unknown license) sends nothing.
    metadata = deposition_metadata(dataset, open_access=open_access)
    deposition = _current_deposition(client, dataset)
    if deposition is None:
        if not open_access:
            return ""  # nothing was deposited, so there is nothing to close
        deposition = _start_deposition(client, dataset, claim, metadata)
    deposition_id = deposition["id"]
    if not open_access and not deposition.get("submitted"):
        # Never published, so no DOI exists: remove the draft rather than mint one.
        client.delete(deposition_id)
        _store(dataset, zenodo_deposition_id="")
        return "The unpublished Zenodo draft was deleted; no DOI had been registered."
    published_on = (deposition.get("metadata") or {}).get("publication_date")
    if published_on and deposition.get("submitted"):
        metadata["publication_date"] = published_on
    if deposition.get("submitted") and deposition.get("state") == "done":
        deposition = client.edit(deposition_id)
    if not deposition.get("submitted"):
        bucket = deposition["links"]["bucket"]
        for stale in deposition.get("files") or []:  # e.g. inherited by a new version
            if stale.get("filename") != METADATA_FILENAME:
                client.delete_file(bucket, stale["filename"])
        client.upload_file(
            bucket, METADATA_FILENAME, metadata_document(dataset), "application/ld+json"
        )
    client.update_metadata(deposition_id, metadata)
    first_doi = not dataset.doi
    published = client.publish(deposition_id)
    doi = published.get("doi") or dataset.doi
    if doi != dataset.doi:
        with transaction.atomic():  # the DOI and its trace together
            _store(dataset, doi=doi)
            trace_pid_update(dataset)
    if not open_access:
        return f"Zenodo record of DOI {doi} set to closed access; the DOI stays."
    if first_doi and dataset.previous_version and dataset.previous_version.doi:
        return f"DOI {doi} registered on Zenodo as a new version of {dataset.previous_version.doi}."
    if first_doi:
        return f"DOI {doi} registered on Zenodo."
    return f"Zenodo record of DOI {doi} updated."


def _finish(claim: _Claim, dataset: Dataset, outcome: str) -> str:
    from . import doi as dois
    from . import tasks

    with transaction.atomic():
        sync = ZenodoSync.objects.select_for_update().filter(pk=claim.sync_id).first()
        current = Dataset.objects.select_related("organisation").get(pk=dataset.pk)
        if outcome:
            LifecycleEvent.objects.create(
                dataset=current,
                action=LifecycleEvent.Action.DOI,
                to_state=current.state,
                note=outcome,
            )
        if sync is None:
            # Cancelled while we worked (closed before anything was deposited): if our deposit
            # got through meanwhile, close it again.
            if current.zenodo_deposition_id and current.state != State.PUBLISHED:
                dois.schedule_sync(current, Wanted.CLOSE)
        elif sync.wanted == claim.wanted and current.modified == claim.modified:
            sync.delete()
        else:
            # The dataset changed while we talked to Zenodo: keep the row and go again.
            transaction.on_commit(lambda: tasks.sync_zenodo.delay(str(dataset.pk)))
    logger.info("zenodo sync done dataset=%s wanted=%s", dataset.pk, claim.wanted)
    return outcome or "nothing to do"
