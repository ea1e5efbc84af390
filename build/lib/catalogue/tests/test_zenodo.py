"""DOIs on Zenodo: what a provider's lifecycle actions do to the dataset's Zenodo record.

Zenodo itself cannot be reached from the tests; tests/fakes/zenodo_server.py is a local
server that enforces Zenodo's documented deposit API (auth, shapes, states).
"""

from __future__ import annotations

import json
from datetime import timedelta

import psycopg
import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from catalogue import services, tasks, zenodo_sync
from catalogue.models import Dataset, LifecycleEvent, ZenodoSync
from catalogue.zenodo import ZenodoClient, ZenodoError, ZenodoUnavailable
from hub.models import Role, RoleAssignment
from tests.fakes.zenodo_server import FakeZenodo
from tracer.models import Trace

TOKEN_A = "zenodo-token-of-hospital-a"
TOKEN_B = "zenodo-token-of-someone-else"
SITE = "https://agora.example"


@pytest.fixture(scope="module")
def zenodo_server():
    with FakeZenodo(tokens=[TOKEN_A, TOKEN_B], communities=["eucaim"]) as server:
        yield server


@pytest.fixture
def zenodo(zenodo_server, settings):
    zenodo_server.reset()
    settings.ZENODO_API_URL = zenodo_server.base_url
    settings.SITE_URL = SITE
    return zenodo_server


@pytest.fixture
def dois_on(org_a):
    org_a.zenodo_token = TOKEN_A
    org_a.zenodo_community = "eucaim"
    org_a.save()
    return org_a


@pytest.fixture
def published(zenodo, dois_on, make_dataset):
    """A published dataset of an organisation with Zenodo, its DOI not yet made."""
    return make_dataset("published")


def synced(dataset: Dataset) -> Dataset:
    zenodo_sync.run(dataset.pk)
    return Dataset.objects.get(pk=dataset.pk)


def creates(zenodo: FakeZenodo) -> int:
    return len(zenodo.calls_to("POST", r"^/api/deposit/depositions/?$"))


# --- publishing -------------------------------------------------------------------------


def test_publishing_mints_a_doi_for_the_metadata_record(published, zenodo, api):
    assert ZenodoSync.objects.get(dataset=published).wanted == ZenodoSync.Wanted.PUBLISH

    dataset = synced(published)

    record = zenodo.deposition(dataset.zenodo_deposition_id)
    assert dataset.doi == record["doi"] == f"10.5072/zenodo.{record['id']}"
    assert record["submitted"] and record["state"] == "done"
    assert not ZenodoSync.objects.filter(dataset=dataset).exists()
    event = dataset.events.get(action=LifecycleEvent.Action.DOI)
    assert dataset.doi in event.note

    body = api.anonymous().get(reverse("api:dataset-detail", args=[dataset.pk])).json()
    assert body["doi"] == dataset.doi
    assert body["zenodo"] is None
    page = api.anonymous().get(dataset.get_absolute_url())
    assert dataset.doi in page.content.decode()


def test_a_registered_doi_leaves_a_pid_updated_trace_and_a_later_sync_no_second_one(
    published, zenodo
):
    def pid_traces():
        return Trace.objects.filter(
            dataset_refs__dataset_id=str(published.pk), details="PID_UPDATED"
        )

    assert not pid_traces().exists()
    dataset = synced(published)
    services.update_dataset(dataset=dataset, by=_provider(dataset), contact_name="Data steward")
    synced(dataset)  # the record is updated; the DOI stays the same

    (trace,) = pid_traces()
    assert trace.action == "UPDATE_DATASET" and trace.caller == "hub.catalogue"
    assert trace.user_pseudonym == ""  # the hub's worker did it, not a person


def _provider(dataset):
    return RoleAssignment.objects.get(role=Role.PROVIDER, organisation=dataset.organisation).user


def test_the_record_describes_the_dataset_and_points_to_its_page(published, zenodo):
    dataset = synced(published)

    metadata = zenodo.deposition(dataset.zenodo_deposition_id)["metadata"]
    landing = SITE + dataset.get_absolute_url()
    assert metadata["upload_type"] == "dataset"
    assert metadata["title"] == dataset.title
    assert dataset.description in metadata["description"]
    assert metadata["creators"] == [{"name": "A. Radiologist", "affiliation": "Hospital A"}]
    assert metadata["license"] == "cc-by-nc-4.0"
    assert metadata["access_right"] == "open"
    assert metadata["version"] == "1"
    assert metadata["publication_date"] == dataset.published_at.date().isoformat()
    assert metadata["communities"] == [{"identifier": "eucaim"}]
    assert {
        "identifier": landing,
        "relation": "isMetadataFor",
        "resource_type": "dataset",
    } in metadata["related_identifiers"]
    assert {"name": "Hospital A", "type": "HostingInstitution"} in metadata["contributors"]


def test_only_the_public_metadata_document_is_uploaded(published, zenodo):
    dataset = synced(published)

    files = zenodo.files(dataset.zenodo_deposition_id)
    assert list(files) == ["agora-dataset-metadata.jsonld"]
    raw = files["agora-dataset-metadata.jsonld"]
    document = json.loads(raw)
    assert document["@type"] == "Dataset"
    assert document["@id"] == SITE + dataset.get_absolute_url()
    assert document["name"] == dataset.title
    assert set(document) == {
        "@context",
        "@type",
        "@id",
        "url",
        "name",
        "description",
        "version",
        "keywords",
        "measurementTechnique",
        "publisher",
        "includedInDataCatalog",
        "conditionsOfAccess",
    }
    text = raw.decode()
    for private in ("study-1", "ab" * 32, "imaging@hospital-a.example", "sex", "DUO:"):
        assert private not in text
    assert len(raw) < 4096


def test_organisation_without_a_token_sends_nothing(zenodo, make_dataset, org_b, provider_b):
    dataset = make_dataset("published", organisation=org_b, by=provider_b)

    assert not ZenodoSync.objects.filter(dataset=dataset).exists()
    assert zenodo_sync.run(dataset.pk) == "nothing pending"
    assert zenodo.calls == []
    assert Dataset.objects.get(pk=dataset.pk).doi == ""


def test_publishing_through_the_api_ends_with_a_doi(
    zenodo, dois_on, make_dataset, provider_a, api, django_capture_on_commit_callbacks, monkeypatch
):
    from hub.celery import app

    monkeypatch.setitem(app.conf, "task_always_eager", True)
    dataset = make_dataset("released")
    with django_capture_on_commit_callbacks(execute=True):
        response = api.as_(provider_a).post(reverse("api:dataset-publish", args=[dataset.pk]))
    assert response.status_code == 200

    dataset.refresh_from_db()
    assert dataset.state == Dataset.State.PUBLISHED
    assert dataset.doi.startswith("10.5072/zenodo.")
    assert creates(zenodo) == 1


# --- later changes --------------------------------------------------------------------


def test_a_license_edit_republishes_the_same_record(published, zenodo, provider_a):
    dataset = synced(published)
    first_doi = dataset.doi
    zenodo.calls.clear()

    services.update_dataset(
        dataset=dataset, by=provider_a, license="https://creativecommons.org/licenses/by/4.0/"
    )
    assert ZenodoSync.objects.get(dataset=dataset).wanted == ZenodoSync.Wanted.UPDATE
    dataset = synced(dataset)

    record = zenodo.deposition(dataset.zenodo_deposition_id)
    assert record["metadata"]["license"] == "cc-by-4.0"
    assert record["state"] == "done"
    assert dataset.doi == record["doi"] == first_doi
    assert [(c.method, c.path.rsplit("/", 1)[-1]) for c in zenodo.calls if c.method != "GET"] == [
        ("POST", "edit"),
        ("PUT", str(record["id"])),
        ("POST", "publish"),
    ]
    assert len(zenodo.depositions()) == 1


@pytest.mark.parametrize("action", ["unpublish", "invalidate"])
def test_withdrawing_closes_the_record_and_the_doi_stays(
    action, published, zenodo, provider_a, api
):
    dataset = synced(published)
    doi = dataset.doi

    if action == "unpublish":
        services.unpublish_dataset(dataset=dataset, by=provider_a)
    else:
        services.invalidate_dataset(dataset=dataset, by=provider_a, reason="Consent withdrawn")
    dataset = synced(dataset)

    record = zenodo.deposition(dataset.zenodo_deposition_id)
    assert record["metadata"]["access_right"] == "closed"
    assert record["state"] == "done" and record["doi"] == doi
    assert dataset.doi == doi
    assert "closed access" in dataset.events.filter(action=LifecycleEvent.Action.DOI).last().note
    if action == "invalidate":
        tombstone = api.anonymous().get(reverse("api:dataset-detail", args=[dataset.pk]))
        assert tombstone.status_code == 410
        assert tombstone.json()["doi"] == doi


def test_reactivating_reopens_the_record(published, zenodo, provider_a):
    dataset = synced(published)
    services.invalidate_dataset(dataset=dataset, by=provider_a, reason="Checking consent")
    dataset = synced(dataset)
    services.reactivate_dataset(dataset=dataset, by=provider_a)
    dataset = synced(dataset)

    assert zenodo.deposition(dataset.zenodo_deposition_id)["metadata"]["access_right"] == "open"
    assert len(zenodo.depositions()) == 1


def test_a_new_published_version_is_a_new_version_of_the_same_zenodo_concept(
    published, zenodo, provider_a
):
    first = synced(published)
    draft = services.create_new_version(dataset=first, by=provider_a)
    second = services.release_dataset(dataset=draft, by=provider_a)
    second = services.publish_dataset(dataset=second, by=provider_a)
    assert ZenodoSync.objects.get(dataset=second).wanted == ZenodoSync.Wanted.NEW_VERSION

    second = synced(second)

    old, new = (
        zenodo.deposition(first.zenodo_deposition_id),
        zenodo.deposition(second.zenodo_deposition_id),
    )
    assert new["id"] != old["id"]
    assert new["conceptrecid"] == old["conceptrecid"]
    assert new["conceptdoi"] == old["conceptdoi"]
    assert second.doi == new["doi"] != first.doi
    assert Dataset.objects.get(pk=first.pk).doi == first.doi
    assert new["metadata"]["version"] == "2"
    document = json.loads(zenodo.files(new["id"])["agora-dataset-metadata.jsonld"])
    assert document["version"] == "2"
    assert document["@id"].endswith(f"/datasets/{second.pk}/")
    assert first.doi in second.events.get(action=LifecycleEvent.Action.DOI).note


# --- changes made while the worker talks to Zenodo ------------------------------------


def test_an_edit_made_during_a_sync_is_not_lost(published, zenodo, provider_a, monkeypatch):
    real_publish = ZenodoClient.publish

    def publish_while_provider_edits(client, deposition_id):
        monkeypatch.setattr(ZenodoClient, "publish", real_publish)
        services.update_dataset(
            dataset=published, by=provider_a, license="https://creativecommons.org/licenses/by/4.0/"
        )
        return real_publish(client, deposition_id)

    monkeypatch.setattr(ZenodoClient, "publish", publish_while_provider_edits)
    dataset = synced(published)
    assert ZenodoSync.objects.filter(dataset=dataset).exists()  # stays for another round

    dataset = synced(dataset)
    assert zenodo.deposition(dataset.zenodo_deposition_id)["metadata"]["license"] == "cc-by-4.0"
    assert not ZenodoSync.objects.filter(dataset=dataset).exists()


def test_unpublishing_during_the_first_deposit_still_ends_closed(
    published, zenodo, provider_a, monkeypatch
):
    real_create = ZenodoClient.create_deposition

    def create_while_provider_unpublishes(client, metadata=None):
        # The pending deposit is forgotten: nothing had been stored yet.
        services.unpublish_dataset(dataset=published, by=provider_a)
        return real_create(client, metadata)

    monkeypatch.setattr(ZenodoClient, "create_deposition", create_while_provider_unpublishes)
    dataset = synced(published)
    assert ZenodoSync.objects.get(dataset=dataset).wanted == ZenodoSync.Wanted.CLOSE

    dataset = synced(dataset)
    assert zenodo.deposition(dataset.zenodo_deposition_id)["metadata"]["access_right"] == "closed"
    assert dataset.state == Dataset.State.RELEASED


# --- when Zenodo fails -----------------------------------------------------------------


def test_zenodo_down_does_not_undo_publishing_and_a_retry_finishes_it(published, zenodo, api):
    zenodo.fail_next(500, path=r"/actions/publish$")

    with pytest.raises(ZenodoUnavailable):
        zenodo_sync.run(published.pk)

    dataset = Dataset.objects.get(pk=published.pk)
    assert dataset.state == Dataset.State.PUBLISHED
    assert dataset.doi == ""
    assert dataset.zenodo_deposition_id  # kept, so the retry resumes from it
    sync = ZenodoSync.objects.get(dataset=dataset)
    assert sync.attempts == 1
    assert "Zenodo is unavailable (HTTP 500)" in sync.last_error
    assert "try again" in sync.last_error
    shown = api.anonymous().get(reverse("api:dataset-detail", args=[dataset.pk])).json()["zenodo"]
    assert shown["last_error"] == sync.last_error

    dataset = synced(dataset)

    assert dataset.doi
    assert creates(zenodo) == 1
    assert len(zenodo.depositions()) == 1
    assert not ZenodoSync.objects.filter(dataset=dataset).exists()


def test_rate_limiting_is_reported_and_retried_without_a_second_deposition(published, zenodo):
    zenodo.fail_next(429, method="PUT", retry_after=30)  # the first upload

    with pytest.raises(ZenodoUnavailable) as raised:
        zenodo_sync.run(published.pk)
    assert raised.value.retry_after == 30
    assert "rate" in ZenodoSync.objects.get(dataset=published).last_error

    dataset = synced(published)
    assert dataset.doi
    assert len(zenodo.depositions()) == 1


def test_a_lost_answer_to_create_does_not_make_a_second_deposition(published, zenodo):
    # Zenodo creates the draft, but the answer never arrives.
    zenodo.fail_next(502, method="POST", path=r"^/api/deposit/depositions/?$", after=True)

    with pytest.raises(ZenodoUnavailable):
        zenodo_sync.run(published.pk)
    assert Dataset.objects.get(pk=published.pk).zenodo_deposition_id == ""
    assert len(zenodo.depositions()) == 1

    dataset = synced(published)

    assert len(zenodo.depositions()) == 1
    assert creates(zenodo) == 1
    assert zenodo.deposition(dataset.zenodo_deposition_id)["doi"] == dataset.doi


def test_a_lost_answer_to_publish_is_picked_up_by_the_retry(published, zenodo):
    zenodo.fail_next(504, path=r"/actions/publish$", after=True)
    with pytest.raises(ZenodoUnavailable):
        zenodo_sync.run(published.pk)
    minted = zenodo.depositions()[0]["doi"]

    dataset = synced(published)

    assert dataset.doi == minted
    assert len(zenodo.depositions()) == 1


def test_a_worker_dying_midway_resumes_from_the_stored_deposition(published, zenodo, monkeypatch):
    def crash(*args, **kwargs):
        raise RuntimeError("worker lost")

    monkeypatch.setattr(ZenodoClient, "upload_file", crash)
    with pytest.raises(RuntimeError):
        zenodo_sync.run(published.pk)
    stored = Dataset.objects.get(pk=published.pk).zenodo_deposition_id
    assert stored
    assert "Unexpected error" in ZenodoSync.objects.get(dataset=published).last_error
    monkeypatch.undo()

    dataset = synced(published)

    assert dataset.zenodo_deposition_id == stored
    assert creates(zenodo) == 1
    assert dataset.doi


def test_a_bad_token_is_reported_clearly_and_not_retried(zenodo, org_a, make_dataset):
    org_a.zenodo_token = "not-a-valid-zenodo-token"
    org_a.save()
    dataset = make_dataset("published")

    result = tasks.sync_zenodo.apply(args=[str(dataset.pk)])

    assert result.failed()
    assert isinstance(result.result, ZenodoError) and result.result.status == 401
    assert len(zenodo.calls) == 1  # not retried
    sync = ZenodoSync.objects.get(dataset=dataset)
    assert "did not accept this organisation's access token (HTTP 401)" in sync.last_error
    assert "not-a-valid-zenodo-token" not in sync.last_error
    assert Dataset.objects.get(pk=dataset.pk).state == Dataset.State.PUBLISHED


def test_the_task_retries_passing_failures_with_backoff(published, zenodo):
    assert tasks.sync_zenodo.retry_backoff and tasks.sync_zenodo.max_retries
    zenodo.fail_next(503, times=2, method="POST", path=r"^/api/deposit/depositions/?$")

    result = tasks.sync_zenodo.apply(args=[str(published.pk)])  # retries run inline here

    assert result.successful()
    assert Dataset.objects.get(pk=published.pk).doi
    assert len(zenodo.depositions()) == 1


def test_a_license_zenodo_does_not_know_is_reported_before_anything_is_sent(
    zenodo, dois_on, make_dataset
):
    dataset = make_dataset("published", license="https://example.org/our-own-terms")

    with pytest.raises(zenodo_sync.CannotDeposit):
        zenodo_sync.run(dataset.pk)

    assert zenodo.calls == []
    assert "license" in ZenodoSync.objects.get(dataset=dataset).last_error


def test_unpublishing_before_the_doi_was_minted_deletes_the_draft(published, zenodo, provider_a):
    zenodo.fail_next(500, path=r"/actions/publish$")
    with pytest.raises(ZenodoUnavailable):
        zenodo_sync.run(published.pk)
    draft_id = Dataset.objects.get(pk=published.pk).zenodo_deposition_id

    services.unpublish_dataset(dataset=published, by=provider_a)
    dataset = synced(published)

    assert zenodo.depositions() == []
    assert zenodo.calls_to("DELETE", rf"/depositions/{draft_id}$")
    assert dataset.doi == "" and dataset.zenodo_deposition_id == ""
    assert not ZenodoSync.objects.filter(dataset=dataset).exists()


def test_retry_pending_requeues_failed_syncs_after_their_backoff(published, zenodo, monkeypatch):
    zenodo.fail_next(500)
    with pytest.raises(ZenodoUnavailable):
        zenodo_sync.run(published.pk)
    queued = []
    monkeypatch.setattr(tasks.sync_zenodo, "delay", lambda pk: queued.append(pk))

    now = timezone.now()
    assert zenodo_sync.retry_pending(now=now) == 0
    assert zenodo_sync.retry_pending(now=now + timedelta(minutes=2)) == 1
    assert queued == [str(published.pk)]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="advisory locks are PostgreSQL's")
def test_two_workers_never_run_the_same_sync(published, zenodo):
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    with psycopg.connect(**params, autocommit=True) as other_worker:
        other_worker.execute("SELECT pg_advisory_lock(%s)", [zenodo_sync._lock_key(published.pk)])
        with pytest.raises(zenodo_sync.SyncDeferred):
            zenodo_sync.run(published.pk)
    assert zenodo.calls == []
    assert ZenodoSync.objects.get(dataset=published).attempts == 0


# --- the fake keeps Zenodo's contract -------------------------------------------------


def test_fake_zenodo_enforces_authentication_and_ownership(zenodo):
    deposition = ZenodoClient(zenodo.base_url, TOKEN_A).create_deposition()

    for client, status in [
        (ZenodoClient(zenodo.base_url, ""), 401),
        (ZenodoClient(zenodo.base_url, "unknown"), 401),
        (ZenodoClient(zenodo.base_url, TOKEN_B), 403),
    ]:
        with pytest.raises(ZenodoError) as raised:
            client.get(deposition["id"])
        assert raised.value.status == status
        assert not raised.value.retryable


def test_fake_zenodo_enforces_shapes_and_states(zenodo):
    client = ZenodoClient(zenodo.base_url, TOKEN_A)
    deposition = client.create_deposition()
    number = deposition["id"]

    def status_of(call, *args):
        with pytest.raises(ZenodoError) as raised:
            call(*args)
        return raised.value

    wrong_type = client.session.put(
        f"{zenodo.base_url}/deposit/depositions/{number}",
        data="metadata=1",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert wrong_type.status_code == 415
    incomplete = status_of(client.update_metadata, number, {"title": "T", "upload_type": "dataset"})
    assert incomplete.status == 400
    assert {"creators", "description", "access_right"} <= {e["field"] for e in incomplete.errors}
    no_license = status_of(
        client.update_metadata,
        number,
        {
            "title": "T",
            "upload_type": "dataset",
            "description": "D",
            "access_right": "open",
            "creators": [{"name": "Doe, Jane"}],
        },
    )
    assert [e["field"] for e in no_license.errors] == ["license"]
    bad_relation = status_of(
        client.update_metadata,
        number,
        {
            "title": "T",
            "upload_type": "dataset",
            "description": "D",
            "access_right": "closed",
            "creators": [{"name": "Doe, Jane"}],
            "related_identifiers": [{"identifier": "https://x.example/1", "relation": "pointsTo"}],
        },
    )
    assert bad_relation.errors[0]["field"] == "related_identifiers.0.relation"
    client.update_metadata(
        number,
        {
            "title": "T",
            "upload_type": "dataset",
            "description": "D",
            "access_right": "closed",
            "creators": [{"name": "Doe, Jane"}],
        },
    )
    assert "Minimum one file" in str(status_of(client.publish, number))
    assert status_of(client.edit, number).status == 400  # not published yet

    client.upload_file(deposition["links"]["bucket"], "m.jsonld", b"{}")
    published = client.publish(number)
    assert published["doi"] == f"10.5072/zenodo.{number}"
    assert status_of(client.update_metadata, number, {}).status == 400  # edit first
    assert status_of(client.delete, number).status == 403
    assert status_of(client.upload_file, deposition["links"]["bucket"], "x", b"1").status == 403

    answer = client.new_version(number)
    assert answer["id"] == number
    draft = ZenodoClient.latest_draft_id(answer)
    assert draft != number
    assert ZenodoClient.latest_draft_id(client.new_version(number)) == draft  # same draft again
    assert list(zenodo.files(draft)) == ["m.jsonld"]


@pytest.mark.parametrize(
    "url, zenodo_id",
    [
        ("https://creativecommons.org/licenses/by-nc/4.0/", "cc-by-nc-4.0"),
        ("http://creativecommons.org/licenses/by-sa/3.0", "cc-by-sa-3.0"),
        ("https://creativecommons.org/publicdomain/zero/1.0/", "cc0-1.0"),
        ("https://opendatacommons.org/licenses/odbl/1-0/", "odc-odbl-1.0"),
        ("https://spdx.org/licenses/CC-BY-4.0.html", "cc-by-4.0"),
        ("https://opensource.org/licenses/MIT", "mit"),
        ("https://example.org/our-own-terms", None),
        ("", None),
    ],
)
def test_license_urls_map_to_zenodo_license_ids(url, zenodo_id):
    assert zenodo_sync.zenodo_license(url) == zenodo_id
