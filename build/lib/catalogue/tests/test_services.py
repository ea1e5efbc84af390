import pytest

from catalogue import services
from catalogue.models import Dataset
from hub.errors import Conflict, FrozenField, InvalidTransition, NotAllowed, ValidationFailed

State = Dataset.State


def history(dataset):
    return list(dataset.events.values_list("action", "from_state", "to_state"))


def test_draft_moves_through_the_whole_lifecycle_and_history_records_each_step(
    make_dataset, provider_a
):
    dataset = make_dataset()
    dataset = services.release_dataset(dataset=dataset, by=provider_a)
    dataset = services.publish_dataset(dataset=dataset, by=provider_a)
    dataset = services.unpublish_dataset(dataset=dataset, by=provider_a)
    dataset = services.invalidate_dataset(
        dataset=dataset, by=provider_a, reason="Consent withdrawn"
    )
    dataset = services.reactivate_dataset(dataset=dataset, by=provider_a)

    assert dataset.state == State.RELEASED
    assert history(dataset) == [
        ("create", "", "draft"),
        ("release", "draft", "released"),
        ("publish", "released", "published"),
        ("unpublish", "published", "released"),
        ("invalidate", "released", "invalidated"),
        ("reactivate", "invalidated", "released"),
    ]
    assert dataset.events.get(action="invalidate").note == "Consent withdrawn"
    assert set(dataset.events.values_list("by__username", flat=True)) == {"provider_a"}


@pytest.mark.parametrize(
    "state, service",
    [
        ("draft", services.publish_dataset),
        ("draft", services.unpublish_dataset),
        ("released", services.release_dataset),
        ("released", services.unpublish_dataset),
        ("published", services.publish_dataset),
        ("draft", services.reactivate_dataset),
    ],
)
def test_a_transition_not_allowed_from_the_current_state_names_that_state(
    make_dataset, provider_a, state, service
):
    dataset = make_dataset(state)
    with pytest.raises(InvalidTransition) as error:
        service(dataset=dataset, by=provider_a)
    assert error.value.details["current_state"] == state
    dataset.refresh_from_db()
    assert dataset.state == state


def test_invalidated_dataset_cannot_be_invalidated_again(make_dataset, provider_a):
    dataset = make_dataset("invalidated")
    with pytest.raises(InvalidTransition):
        services.invalidate_dataset(dataset=dataset, by=provider_a, reason="again")


def test_invalidation_requires_a_reason(make_dataset, provider_a):
    dataset = make_dataset("released")
    with pytest.raises(ValidationFailed) as error:
        services.invalidate_dataset(dataset=dataset, by=provider_a, reason="  ")
    assert error.value.details["field"] == "reason"
    dataset.refresh_from_db()
    assert dataset.state == State.RELEASED


def test_reactivation_returns_to_the_state_before_invalidation(make_dataset, provider_a):
    dataset = make_dataset("published")
    dataset = services.invalidate_dataset(dataset=dataset, by=provider_a, reason="Wrong labels")
    dataset = services.reactivate_dataset(dataset=dataset, by=provider_a)
    assert dataset.state == State.PUBLISHED


def test_provider_of_another_organisation_cannot_change_the_lifecycle(make_dataset, provider_b):
    dataset = make_dataset()
    with pytest.raises(NotAllowed):
        services.release_dataset(dataset=dataset, by=provider_b)
    dataset.refresh_from_db()
    assert dataset.state == State.DRAFT
    assert dataset.events.count() == 1


@pytest.mark.parametrize("role_fixture", ["researcher", "committee_a"])
def test_only_providers_create_datasets(request, org_a, role_fixture):
    user = request.getfixturevalue(role_fixture)
    with pytest.raises(NotAllowed):
        services.create_dataset(organisation=org_a, by=user, title="t", description="d")
    assert Dataset.objects.count() == 0


def test_hub_admin_may_manage_any_organisation(make_dataset, hub_admin):
    dataset = make_dataset()
    assert services.release_dataset(dataset=dataset, by=hub_admin).state == State.RELEASED


def test_descriptive_content_is_frozen_after_release(make_dataset, provider_a):
    dataset = make_dataset("released")
    with pytest.raises(FrozenField) as error:
        services.update_dataset(
            dataset=dataset, by=provider_a, title="New title", number_of_subjects=5
        )
    assert error.value.details["fields"] == ["number_of_subjects", "title"]
    dataset.refresh_from_db()
    assert dataset.title == "Lung cancer screening CT"


def test_license_and_contact_stay_editable_after_release(make_dataset, provider_a):
    dataset = make_dataset("published")
    dataset = services.update_dataset(
        dataset=dataset,
        by=provider_a,
        license="https://creativecommons.org/licenses/by/4.0/",
        contact_email="new-desk@hospital-a.example",
    )
    dataset.refresh_from_db()
    assert dataset.license.endswith("/by/4.0/")
    assert dataset.contact_email == "new-desk@hospital-a.example"
    assert dataset.events.filter(action="edit").exists()


def test_draft_edits_update_facets(make_dataset, provider_a):
    dataset = make_dataset()
    services.update_dataset(dataset=dataset, by=provider_a, modalities=["MR"], body_parts=["brain"])
    dataset.refresh_from_db()
    assert "modality=MR" in dataset.facet_keys and "modality=CT" not in dataset.facet_keys
    assert "body_part=BRAIN" in dataset.facet_keys


def test_age_range_must_be_ordered(org_a, provider_a):
    with pytest.raises(ValidationFailed) as error:
        services.create_dataset(
            organisation=org_a, by=provider_a, title="t", description="d", age_min=70, age_max=20
        )
    assert error.value.details["field"] == "age_min"
    assert Dataset.objects.count() == 0


def test_new_version_links_both_ways_and_copies_content(make_dataset, provider_a):
    v1 = make_dataset("published")
    v2 = services.create_new_version(dataset=v1, by=provider_a)
    assert v2.state == State.DRAFT
    assert v2.previous_version == v1
    assert list(v1.next_versions.all()) == [v2]
    assert v2.version == "2"
    assert v2.title == v1.title and v2.studies == v1.studies
    services.update_dataset(dataset=v2, by=provider_a, number_of_subjects=350)
    v1.refresh_from_db()
    assert v1.number_of_subjects == 300


def test_at_most_one_draft_per_predecessor(make_dataset, provider_a):
    v1 = make_dataset("released")
    services.create_new_version(dataset=v1, by=provider_a)
    with pytest.raises(Conflict):
        services.create_new_version(dataset=v1, by=provider_a)
    assert v1.next_versions.count() == 1


def test_a_draft_cannot_get_a_new_version(make_dataset, provider_a):
    with pytest.raises(InvalidTransition):
        services.create_new_version(dataset=make_dataset(), by=provider_a)


def test_unknown_fields_and_bad_lists_are_refused(org_a, provider_a):
    with pytest.raises(ValidationFailed, match="colour"):
        services.create_dataset(
            organisation=org_a, by=provider_a, title="t", description="d", colour="red"
        )
    with pytest.raises(ValidationFailed, match="duo_terms"):
        services.create_dataset(
            organisation=org_a, by=provider_a, title="t", description="d", duo_terms=["GRU"]
        )
    assert Dataset.objects.count() == 0


def test_harvested_datasets_created_in_bulk_with_history_and_traces(org_a):
    from hub.errors import DomainError
    from tracer.models import Trace

    good = {"title": "Harvested CT", "description": "From a node.", "modalities": ["CT"]}
    outcomes = services.create_harvested_datasets(
        organisation=org_a,
        records=[good, {"title": "No description"}, good | {"age_min": 9, "age_max": 3}],
        source="node:x",
        auto_release=True,
    )
    created, missing, reversed_ages = outcomes
    assert isinstance(missing, DomainError) and "description" in missing.message
    assert isinstance(reversed_ages, DomainError) and "age_min" in reversed_ages.message
    created.refresh_from_db()
    assert created.state == "released" and created.source_node == "node:x"
    assert created.facet_keys and created.released_at
    assert [e.action for e in created.events.all()] == ["create", "release"]
    traces = Trace.objects.filter(dataset_refs__dataset_id=str(created.pk))
    assert sorted(t.action for t in traces) == ["CREATE_DATASET", "UPDATE_DATASET"]
    assert all(r.organisation_id == org_a.pk for t in traces for r in t.dataset_refs.all())
