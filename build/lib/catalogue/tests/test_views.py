"""The catalogue's web pages, driven with Django's test client as each kind of user."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from catalogue import services
from catalogue.models import Dataset, LifecycleEvent, ZenodoSync
from conftest import page_text as text
from conftest import signed_in as as_

pytestmark = pytest.mark.django_db

SEARCH = reverse("catalogue:search")
CREATE = reverse("catalogue:dataset-create")


def page_of(dataset) -> str:
    return reverse("catalogue:dataset", args=[dataset.pk])


def edit_of(dataset) -> str:
    return reverse("catalogue:dataset-edit", args=[dataset.pk])


def transition_of(dataset) -> str:
    return reverse("catalogue:dataset-transition", args=[dataset.pk])


def action_buttons(html: str) -> set[str]:
    return set(re.findall(r'name="action" value="([a-z_]+)"', html))


# --- search -------------------------------------------------------------------------


def test_anonymous_search_shows_published_datasets_and_hides_drafts(make_dataset):
    make_dataset(state="published", title="Published breast MRI")
    make_dataset(state="released", title="Released prostate MRI")
    make_dataset(state="draft", title="Draft colon CT")

    response = as_(None).get(SEARCH)

    assert response.status_code == 200
    html = text(response)
    assert "Published breast MRI" in html
    assert "Released prostate MRI" not in html
    assert "Draft colon CT" not in html
    assert "1 dataset" in html


def test_provider_sees_own_drafts_with_a_state_badge(make_dataset, provider_a):
    make_dataset(state="draft", title="Draft colon CT")

    html = text(as_(provider_a).get(SEARCH))

    assert "Draft colon CT" in html
    assert 'class="badge badge--draft"' in html


def test_search_page_renders_facet_counts_and_charts(make_dataset):
    make_dataset(state="published", title="Chest CT one", modalities=["CT"])
    make_dataset(state="published", title="Chest CT two", modalities=["CT", "PT"])
    make_dataset(state="published", title="Breast MR", modalities=["MR"], body_parts=["BREAST"])

    html = text(as_(None).get(SEARCH))

    # checkbox for CT with its count of 2 matching datasets
    ct = re.search(r'name="modality" value="CT".*?facet__count.*?(\d+)', html, re.S)
    assert ct and ct.group(1) == "2"
    assert 'name="body_part" value="BREAST"' in html
    assert 'name="access_rights" value="RESTRICTED"' in html
    assert 'name="min_subjects"' in html and "≥ 100 (3)" in html
    # server-side charts, each labelled, with a table alternative
    assert html.count('<svg class="chart"') == 3
    assert 'aria-labelledby="chart-age-title"' in html
    assert '<title id="chart-modality-title">Datasets by modality</title>' in html
    assert '<table class="visually-hidden">' in html


def test_facet_filter_narrows_results_and_keeps_the_choice(make_dataset):
    make_dataset(state="published", title="Chest CT", modalities=["CT"])
    make_dataset(state="published", title="Breast MR", modalities=["MR"], body_parts=["BREAST"])

    response = as_(None).get(SEARCH, {"modality": "MR"})

    html = text(response)
    assert response.status_code == 200
    assert "Breast MR" in html
    assert "Chest CT" not in html
    assert re.search(r'name="modality" value="MR" checked', html)
    assert "Modality: MR" in html  # removable chip


def test_age_and_subject_filters_narrow_results(make_dataset):
    make_dataset(state="published", title="Children", age_min=2, age_max=15, number_of_subjects=40)
    make_dataset(state="published", title="Adults", age_min=40, age_max=80, number_of_subjects=300)

    html = text(as_(None).get(SEARCH, {"age_max": "18"}))
    assert "Children" in html and ">Adults<" not in html

    html = text(as_(None).get(SEARCH, {"min_subjects": "100"}))
    assert ">Adults<" in html and ">Children<" not in html
    assert '<option value="100" selected>' in html


@pytest.mark.parametrize(
    ("query", "parameter"),
    [({"age_min": "old"}, "age_min"), ({"colour": "red"}, "colour"), ({"sort": "size"}, "sort")],
)
def test_bad_search_parameter_answers_400_naming_it(make_dataset, query, parameter):
    make_dataset(state="published")

    response = as_(None).get(SEARCH, query)

    assert response.status_code == 400
    html = text(response)
    assert "The search could not be run" in html
    assert f"<code>{parameter}</code>" in html


def test_pagination_links_keep_the_query(make_dataset, settings):
    settings.CATALOGUE_PAGE_SIZE = 2
    for n in range(5):
        make_dataset(state="published", title=f"Lung set {n}")

    html = text(as_(None).get(SEARCH, {"modality": "CT", "page": "2"}))

    assert "Lung set 2" in html and "Lung set 0" not in html
    assert 'href="/?modality=CT&amp;page=3" rel="next"' in html
    assert 'href="/?modality=CT" rel="prev"' in html
    assert 'aria-current="page">2<' in html


# --- dataset page ---------------------------------------------------------------------


def test_dataset_page_shows_metadata_history_versions_and_dcat_links(make_dataset, provider_a):
    first = make_dataset(state="released")
    second = services.create_new_version(dataset=first, by=provider_a)

    response = as_(provider_a).get(page_of(first))

    assert response.status_code == 200
    html = text(response)
    assert "Lung cancer screening CT" in html
    assert "C34.1" in html and "A. Radiologist" in html and "DUO:0000007" in html
    assert "Female: 120" in html and "Male: 180" in html
    # history: created, then released, by whom
    assert re.search(r"Created</th>.*?draft.*?provider_a", html, re.S)
    assert re.search(r"Released</th>\s*<td>draft → released</td>\s*<td[^>]*>provider_a", html)
    # versions: both, the current one marked
    assert f'href="{page_of(first)}" aria-current="page">Version 1<' in html
    assert f'href="{page_of(second)}">Version 2<' in html
    for ext in ("ttl", "rdf", "jsonld"):
        assert f"/catalogue/datasets/{first.pk}.{ext}" in html


def test_versions_are_listed_from_the_newer_version_too(make_dataset, provider_a):
    first = make_dataset(state="released")
    second = services.create_new_version(dataset=first, by=provider_a)

    html = text(as_(provider_a).get(page_of(second)))

    assert f'href="{page_of(first)}">Version 1<' in html
    assert f'href="{page_of(second)}" aria-current="page">Version 2<' in html


def test_published_dataset_page_links_the_doi_and_shows_a_pending_doi_update(make_dataset, org_a):
    org_a.zenodo_token = "token"
    org_a.save()
    dataset = make_dataset(state="published")
    Dataset.objects.filter(pk=dataset.pk).update(doi="10.5281/zenodo.123")
    ZenodoSync.objects.filter(dataset=dataset).update(last_error="Zenodo answered 503")

    html = text(as_(None).get(page_of(dataset)))

    assert 'href="https://doi.org/10.5281/zenodo.123"' in html
    assert "DOI record update pending:" in html
    assert "last error: Zenodo answered 503" in html


def test_provider_of_another_organisation_gets_404_on_a_draft(make_dataset, provider_b):
    draft = make_dataset(state="draft")

    assert as_(provider_b).get(page_of(draft)).status_code == 404
    assert as_(provider_b).get(edit_of(draft)).status_code == 404
    assert as_(None).get(page_of(draft)).status_code == 404


def test_no_lifecycle_buttons_for_those_who_do_not_manage_the_dataset(
    make_dataset, provider_b, researcher
):
    released = make_dataset(state="released")

    for user in (provider_b, researcher):
        response = as_(user).get(page_of(released))
        assert response.status_code == 200
        assert action_buttons(text(response)) == set()
        assert edit_of(released) not in text(response)


@pytest.mark.parametrize(
    ("state", "buttons"),
    [
        ("draft", {"release", "invalidate"}),
        ("released", {"publish", "new_version", "invalidate"}),
        ("published", {"unpublish", "new_version", "invalidate"}),
    ],
)
def test_manager_sees_the_buttons_valid_in_the_state(make_dataset, provider_a, state, buttons):
    dataset = make_dataset(state=state)

    html = text(as_(provider_a).get(page_of(dataset)))

    assert action_buttons(html) == buttons
    assert f'href="{edit_of(dataset)}"' in html


# --- lifecycle transitions ------------------------------------------------------------


def test_provider_releases_through_the_page_and_history_shows_it(make_dataset, provider_a):
    draft = make_dataset(state="draft")

    response = as_(provider_a).post(transition_of(draft), {"action": "release"}, follow=True)

    assert response.redirect_chain == [(page_of(draft), 302)]
    html = text(response)
    assert "Released: signed-in users can now find it." in html
    assert re.search(r"Released</th>\s*<td>draft → released</td>\s*<td[^>]*>provider_a", html)
    draft.refresh_from_db()
    assert draft.state == "released"


def test_another_provider_cannot_release(make_dataset, provider_b):
    released = make_dataset(state="released")

    response = as_(provider_b).post(transition_of(released), {"action": "publish"})

    assert response.status_code == 403
    released.refresh_from_db()
    assert released.state == "released"


def test_invalidating_requires_a_reason(make_dataset, provider_a):
    released = make_dataset(state="released")

    response = as_(provider_a).post(
        transition_of(released), {"action": "invalidate", "reason": " "}
    )

    assert response.status_code == 400
    assert "A reason is required to invalidate a dataset." in text(response)
    released.refresh_from_db()
    assert released.state == "released"


def test_invalidated_dataset_is_a_tombstone_with_its_reason(make_dataset, provider_a, researcher):
    released = make_dataset(state="released")

    response = as_(provider_a).post(
        transition_of(released),
        {"action": "invalidate", "reason": "Consent withdrawn"},
        follow=True,
    )
    assert response.status_code == 410
    assert "Consent withdrawn" in text(response)
    assert action_buttons(text(response)) == {"reactivate"}

    response = as_(researcher).get(page_of(released))
    assert response.status_code == 410
    html = text(response)
    assert "Invalidated" in html and "Consent withdrawn" in html
    assert action_buttons(html) == set()
    assert released.pk not in [d.pk for d in Dataset.objects.filter(state="released")]


def test_manager_reactivates_from_the_tombstone(make_dataset, provider_a):
    gone = make_dataset(state="invalidated")

    response = as_(provider_a).post(transition_of(gone), {"action": "reactivate"}, follow=True)

    assert response.status_code == 200
    gone.refresh_from_db()
    assert gone.state == "released"


def test_new_version_opens_the_draft_edit_page(make_dataset, provider_a):
    published = make_dataset(state="published")

    response = as_(provider_a).post(transition_of(published), {"action": "new_version"})

    draft = Dataset.objects.get(previous_version=published)
    assert draft.state == "draft" and draft.version == "2"
    assert response.status_code == 302 and response["Location"] == edit_of(draft)
    # a second draft of the same dataset is refused, and the page offers the existing one
    assert (
        as_(provider_a).post(transition_of(published), {"action": "new_version"}).status_code == 409
    )
    html = text(as_(provider_a).get(page_of(published)))
    assert "new_version" not in action_buttons(html)
    assert f'href="{edit_of(draft)}">edit version 2<' in html


def test_unknown_action_is_refused_and_get_is_not_allowed(make_dataset, provider_a):
    draft = make_dataset(state="draft")

    response = as_(provider_a).post(transition_of(draft), {"action": "delete"})
    assert response.status_code == 400
    assert "action must be one of" in text(response)

    response = as_(provider_a).get(transition_of(draft))
    assert response.status_code == 405
    assert response["Allow"] == "POST"


def test_invalid_transition_answers_409(make_dataset, provider_a):
    draft = make_dataset(state="draft")

    response = as_(provider_a).post(transition_of(draft), {"action": "publish"})

    assert response.status_code == 409
    assert "This cannot be done now" in text(response)
    draft.refresh_from_db()
    assert draft.state == "draft"


# --- create and edit --------------------------------------------------------------------

FORM = {
    "title": "Breast MRI cohort",
    "description": "Dynamic contrast-enhanced breast MRI.",
    "version": "",
    "keywords": "breast, dce",
    "number_of_subjects": "80",
    "number_of_studies": "95",
    "modalities": "mr, seg",
    "body_parts": "breast",
    "diagnoses": "C50.9",
    "sex_female": "80",
    "sex_male": "",
    "sex_other": "",
    "sex_unknown": "",
    "age_min": "30",
    "age_max": "75",
    "manufacturers": "Siemens",
    "size_bytes": "2500000000",
    "license": "https://creativecommons.org/licenses/by/4.0/",
    "contact_name": "Data desk",
    "contact_email": "desk@hospital-a.example",
    "authors": "B. Radiologist; Hospital A\nC. Physicist",
    "identifier": "",
    "access_rights": "RESTRICTED",
    "duo_terms": "DUO:0000007, DUO:0000019",
}


def test_create_form_creates_a_draft(provider_a, org_a):
    assert as_(provider_a).get(CREATE).status_code == 200

    response = as_(provider_a).post(CREATE, FORM | {"organisation": org_a.slug}, follow=True)

    dataset = Dataset.objects.get(title="Breast MRI cohort")
    assert response.redirect_chain == [(page_of(dataset), 302)]
    assert dataset.state == "draft" and dataset.organisation == org_a and dataset.version == "1"
    assert dataset.modalities == ["MR", "SEG"]
    assert dataset.sex_counts == {"female": 80}
    assert dataset.authors == [
        {"name": "B. Radiologist", "affiliation": "Hospital A"},
        {"name": "C. Physicist"},
    ]
    assert dataset.duo_terms == ["DUO:0000007", "DUO:0000019"]
    assert dataset.events.get().action == LifecycleEvent.Action.CREATE


def test_create_form_shows_problems_without_saving(provider_a, org_a):
    bad = FORM | {"organisation": org_a.slug, "title": "", "age_min": "90", "duo_terms": "consent"}

    response = as_(provider_a).post(CREATE, bad)

    assert response.status_code == 400
    html = text(response)
    assert "This field is required." in html
    assert "The youngest age must not be greater than the oldest." in html
    assert not Dataset.objects.exists()

    response = as_(provider_a).post(
        CREATE, FORM | {"organisation": org_a.slug, "duo_terms": "consent"}
    )
    assert response.status_code == 400
    assert "duo_terms must be DUO identifiers" in text(response)
    assert not Dataset.objects.exists()

    too_many = FORM | {"organisation": org_a.slug, "number_of_subjects": "9" * 12}
    response = as_(provider_a).post(CREATE, too_many)
    assert response.status_code == 400
    assert "less than or equal to 2147483647" in text(response)
    assert not Dataset.objects.exists()


def test_create_form_is_for_providers_of_their_own_organisations(provider_a, researcher, org_b):
    assert as_(researcher).get(CREATE).status_code == 403
    assert as_(None).get(CREATE).status_code == 302  # to the sign-in page

    response = as_(provider_a).post(CREATE, FORM | {"organisation": org_b.slug})
    assert response.status_code == 400  # not among the choices
    assert not Dataset.objects.exists()


def test_editing_a_draft_changes_descriptive_fields(make_dataset, provider_a):
    draft = make_dataset(state="draft")
    form = text(as_(provider_a).get(edit_of(draft)))
    assert 'value="Lung cancer screening CT"' in form and "disabled" not in form

    data = FORM | {"title": "Lung CT, revised", "version": "1"}
    response = as_(provider_a).post(edit_of(draft), data)

    assert response.status_code == 302
    draft.refresh_from_db()
    assert draft.title == "Lung CT, revised"


def test_released_dataset_form_freezes_descriptive_fields(make_dataset, provider_a):
    released = make_dataset(state="released")

    html = text(as_(provider_a).get(edit_of(released)))

    assert "frozen after release: create a new version to change them" in html.lower()
    assert re.search(r'name="title"[^>]*disabled', html)
    assert not re.search(r'name="contact_name"[^>]*disabled', html)


def test_editing_a_frozen_field_of_a_released_dataset_answers_409(make_dataset, provider_a):
    released = make_dataset(state="released")

    response = as_(provider_a).post(
        edit_of(released), {"title": "Another title", "access_rights": "RESTRICTED"}
    )

    assert response.status_code == 409
    assert "title cannot change after release; create a new version instead." in text(response)
    released.refresh_from_db()
    assert released.title == "Lung cancer screening CT"


def test_editable_fields_of_a_released_dataset_can_change(make_dataset, provider_a):
    released = make_dataset(state="released")
    # what a browser posts: disabled (frozen) inputs are not sent
    data = {
        k: v
        for k, v in FORM.items()
        if k
        in {
            "license",
            "contact_name",
            "contact_email",
            "authors",
            "identifier",
            "access_rights",
            "duo_terms",
        }
    }
    data |= {"contact_name": "New desk", "authors": "A. Radiologist; Hospital A"}

    response = as_(provider_a).post(edit_of(released), data, follow=True)

    assert response.status_code == 200
    assert "Changes saved." in text(response)
    released.refresh_from_db()
    assert released.contact_name == "New desk"
    assert released.title == "Lung cancer screening CT"
    assert released.events.last().note.startswith("Changed: ")


def test_other_users_cannot_edit(make_dataset, provider_b, researcher):
    released = make_dataset(state="released")

    assert as_(provider_b).get(edit_of(released)).status_code == 403
    assert as_(researcher).post(edit_of(released), FORM).status_code == 403
    released.refresh_from_db()
    assert released.contact_name == "Imaging data desk"


# --- frame ------------------------------------------------------------------------------


def test_header_shows_who_is_signed_in_and_what_they_may_do(provider_a, researcher):
    html = text(as_(provider_a).get(SEARCH))
    assert "provider_a" in html and "provider (data holder) of Hospital A" in html
    assert f'href="{CREATE}"' in html
    assert 'action="/accounts/logout/"' in html

    assert f'href="{CREATE}"' not in text(as_(researcher).get(SEARCH))
    anonymous = text(as_(None).get(SEARCH))
    assert "Sign in" in anonymous and 'href="/api/docs/"' in anonymous


def test_login_page_has_a_labelled_local_form_and_the_institution_link_with_oidc(db, settings):
    response = as_(None).get(reverse("login"))

    assert response.status_code == 200
    html = text(response)
    assert '<label for="id_username">' in html and '<label for="id_password">' in html
    # `make test` runs with the test OIDC provider configured; without it, no link.
    assert ("Sign in with your institution" in html) is settings.OIDC_ENABLED
