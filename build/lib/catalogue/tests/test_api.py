import json

import pytest

from catalogue.models import Dataset

SEARCH = "/api/v1/datasets/"


def detail(dataset):
    return f"/api/v1/datasets/{dataset.pk}/"


def titles(response):
    return sorted(d["title"] for d in response.json()["results"])


@pytest.fixture
def catalogue(make_dataset, org_b, provider_b):
    """One dataset in each state, plus a published brain MR dataset of Hospital B."""
    return {
        "draft": make_dataset("draft", title="Draft lung CT"),
        "released": make_dataset("released", title="Released lung CT"),
        "published": make_dataset("published", title="Published lung CT"),
        "invalidated": make_dataset("invalidated", title="Invalidated lung CT"),
        "brain": make_dataset(
            "published",
            organisation=org_b,
            by=provider_b,
            title="Glioma brain MR",
            description="Pre-operative brain MR of adult glioma.",
            keywords=["glioma"],
            modalities=["MR"],
            body_parts=["BRAIN"],
            diagnoses=["C71.9"],
            age_min=18,
            age_max=45,
            sex_counts={"female": 40, "male": 60},
            number_of_subjects=100,
            access_rights="PUBLIC",
            duo_terms=["DUO:0000042"],
        ),
        "draft_b": make_dataset("draft", organisation=org_b, by=provider_b, title="Draft of B"),
    }


class TestWhoSeesWhat:
    def test_anonymous_sees_published_only(self, api, catalogue):
        response = api.anonymous().get(SEARCH)
        assert response.status_code == 200
        assert titles(response) == ["Glioma brain MR", "Published lung CT"]

    def test_signed_in_researcher_sees_released_and_published(self, api, catalogue, researcher):
        response = api.as_(researcher).get(SEARCH)
        assert titles(response) == ["Glioma brain MR", "Published lung CT", "Released lung CT"]

    def test_provider_also_sees_own_drafts_but_not_other_drafts(self, api, catalogue, provider_a):
        response = api.as_(provider_a).get(SEARCH)
        assert "Draft lung CT" in titles(response)
        assert "Draft of B" not in titles(response)
        assert "Invalidated lung CT" not in titles(response)

    def test_draft_of_another_organisation_is_not_found(
        self, api, catalogue, provider_b, researcher
    ):
        assert api.as_(provider_b).get(detail(catalogue["draft"])).status_code == 404
        assert api.as_(researcher).get(detail(catalogue["draft"])).status_code == 404

    def test_released_dataset_is_hidden_from_anonymous(self, api, catalogue):
        assert api.anonymous().get(detail(catalogue["released"])).status_code == 404

    def test_invalidated_dataset_answers_410_with_its_tombstone(self, api, catalogue, researcher):
        response = api.as_(researcher).get(detail(catalogue["invalidated"]))
        assert response.status_code == 410
        body = response.json()
        assert body["title"] == "Invalidated lung CT"
        assert body["reason"] == "Consent withdrawn"
        assert body["invalidated_at"]
        assert "description" not in body

    def test_tombstone_of_a_never_public_dataset_is_not_shown_to_anonymous(self, api, catalogue):
        assert api.anonymous().get(detail(catalogue["invalidated"])).status_code == 404


class TestSearch:
    def test_full_text_finds_words_in_description_and_keywords(self, api, catalogue, researcher):
        assert titles(api.as_(researcher).get(SEARCH, {"q": "glioma"})) == ["Glioma brain MR"]
        assert titles(api.as_(researcher).get(SEARCH, {"q": "nodule"})) == [
            "Published lung CT",
            "Released lung CT",
        ]

    def test_facets_filter_and_count(self, api, catalogue, researcher):
        response = api.as_(researcher).get(SEARCH, {"modality": "mr"})
        body = response.json()
        assert titles(response) == ["Glioma brain MR"]
        assert {"value": "BRAIN", "count": 1, "label": "BRAIN"} in body["facets"]["body_part"]
        everything = api.as_(researcher).get(SEARCH).json()["facets"]
        assert {"value": "CT", "count": 2, "label": "CT"} in everything["modality"]
        assert {"value": "hospital-b", "count": 1, "label": "hospital-b"} in everything["provider"]

    def test_values_of_one_facet_are_alternatives_and_facets_combine(
        self, api, catalogue, researcher
    ):
        both = api.as_(researcher).get(SEARCH, {"modality": "CT,MR"})
        assert len(titles(both)) == 3
        narrowed = api.as_(researcher).get(
            SEARCH, {"modality": "CT,MR", "sex": "female", "access_rights": "PUBLIC"}
        )
        assert titles(narrowed) == ["Glioma brain MR"]

    def test_diagnosis_category_finds_subcategories(self, api, catalogue, researcher):
        assert titles(api.as_(researcher).get(SEARCH, {"diagnosis": "C34"})) == [
            "Published lung CT",
            "Released lung CT",
        ]

    def test_age_range_matches_overlapping_datasets(self, api, catalogue, researcher):
        assert titles(api.as_(researcher).get(SEARCH, {"age_min": 10, "age_max": 20})) == [
            "Glioma brain MR"
        ]
        assert len(titles(api.as_(researcher).get(SEARCH, {"age_min": 40, "age_max": 55}))) == 3

    def test_minimum_number_of_subjects(self, api, catalogue, researcher):
        response = api.as_(researcher).get(SEARCH, {"min_subjects": 200})
        assert titles(response) == ["Published lung CT", "Released lung CT"]

    def test_duo_term_facet(self, api, catalogue, researcher):
        assert len(titles(api.as_(researcher).get(SEARCH, {"duo": "DUO:0000007"}))) == 2

    def test_sort_and_pagination(self, api, catalogue, researcher):
        first = api.as_(researcher).get(SEARCH, {"sort": "-subjects", "page_size": 2}).json()
        assert first["count"] == 3 and first["pages"] == 2
        assert first["results"][0]["number_of_subjects"] == 300
        assert "page=2" in first["next"] and first["previous"] is None
        second = (
            api.as_(researcher).get(SEARCH, {"sort": "-subjects", "page_size": 2, "page": 2}).json()
        )
        assert [d["title"] for d in second["results"]] == ["Glioma brain MR"]

    @pytest.mark.parametrize(
        "params, parameter",
        [
            ({"colour": "red"}, "colour"),
            ({"page": "abc"}, "page"),
            ({"page": "0"}, "page"),
            ({"page_size": "1000"}, "page_size"),
            ({"age_min": "60", "age_max": "20"}, "age_min"),
            ({"age_max": "old"}, "age_max"),
            ({"sex": "robot"}, "sex"),
            ({"sort": "price"}, "sort"),
            ({"min_subjects": "-3"}, "min_subjects"),
            ({"modified_since": "yesterday"}, "modified_since"),
        ],
    )
    def test_bad_parameters_answer_400_naming_the_parameter(
        self, api, researcher, params, parameter
    ):
        response = api.as_(researcher).get(SEARCH, params)
        assert response.status_code == 400
        assert response.json()["parameter"] == parameter
        assert parameter in response.json()["detail"]


class TestLifecycleThroughTheApi:
    def test_provider_creates_a_draft(self, api, provider_a, org_a):
        payload = {
            "organisation": "hospital-a",
            "title": "Prostate MR",
            "description": "Biparametric MR",
            "modalities": ["MR"],
            "age_min": 45,
            "age_max": 80,
        }
        response = api.as_(provider_a).post(SEARCH, payload, format="json")
        assert response.status_code == 201
        assert response.json()["state"] == "draft"
        assert Dataset.objects.get(pk=response.json()["id"]).organisation == org_a

    def test_anonymous_cannot_create(self, api, org_a):
        response = api.anonymous().post(
            SEARCH, {"organisation": "hospital-a", "title": "x", "description": "y"}, format="json"
        )
        assert response.status_code in (401, 403)
        assert Dataset.objects.count() == 0

    def test_researcher_cannot_create(self, api, researcher, org_a):
        response = api.as_(researcher).post(
            SEARCH, {"organisation": "hospital-a", "title": "x", "description": "y"}, format="json"
        )
        assert response.status_code == 403
        assert Dataset.objects.count() == 0

    def test_unknown_organisation_is_named(self, api, provider_a):
        response = api.as_(provider_a).post(
            SEARCH, {"organisation": "nowhere", "title": "x", "description": "y"}, format="json"
        )
        assert response.status_code == 400
        assert "nowhere" in response.json()["detail"]

    def test_release_then_publish(self, api, make_dataset, provider_a):
        dataset = make_dataset()
        assert api.as_(provider_a).post(detail(dataset) + "release/").json()["state"] == "released"
        assert api.as_(provider_a).post(detail(dataset) + "publish/").json()["state"] == "published"
        history = api.as_(provider_a).get(detail(dataset) + "history/").json()
        assert [e["action"] for e in history] == ["create", "release", "publish"]

    def test_illegal_transition_is_409_naming_the_current_state(
        self, api, make_dataset, provider_a
    ):
        dataset = make_dataset()
        response = api.as_(provider_a).post(detail(dataset) + "unpublish/")
        assert response.status_code == 409
        assert response.json()["current_state"] == "draft"
        assert "draft" in response.json()["detail"]

    def test_researcher_cannot_release(self, api, make_dataset, researcher):
        dataset = make_dataset("released")
        response = api.as_(researcher).post(detail(dataset) + "publish/")
        assert response.status_code == 403
        dataset.refresh_from_db()
        assert dataset.state == "released"

    def test_other_provider_cannot_even_see_the_draft_to_release_it(
        self, api, make_dataset, provider_b
    ):
        dataset = make_dataset()
        assert api.as_(provider_b).post(detail(dataset) + "release/").status_code == 404

    def test_invalidate_needs_a_reason_and_reactivate_restores(self, api, make_dataset, provider_a):
        dataset = make_dataset("published")
        assert (
            api.as_(provider_a).post(detail(dataset) + "invalidate/", {}, format="json").status_code
            == 400
        )
        response = api.as_(provider_a).post(
            detail(dataset) + "invalidate/", {"reason": "Mislabelled series"}, format="json"
        )
        assert response.json()["state"] == "invalidated"
        assert api.anonymous().get(detail(dataset)).status_code == 410
        assert api.anonymous().get(SEARCH).json()["count"] == 0
        assert (
            api.as_(provider_a).post(detail(dataset) + "reactivate/").json()["state"] == "published"
        )

    def test_editing_frozen_fields_is_409(self, api, make_dataset, provider_a):
        dataset = make_dataset("released")
        response = api.as_(provider_a).patch(detail(dataset), {"title": "Changed"}, format="json")
        assert response.status_code == 409
        assert response.json()["fields"] == ["title"]
        response = api.as_(provider_a).patch(
            detail(dataset), {"contact_name": "New desk"}, format="json"
        )
        assert response.status_code == 200
        assert response.json()["contact_name"] == "New desk"

    def test_new_version_via_api(self, api, make_dataset, provider_a):
        dataset = make_dataset("published")
        response = api.as_(provider_a).post(detail(dataset) + "new-version/", {}, format="json")
        assert response.status_code == 201
        assert response.json()["previous_version"] == str(dataset.pk)
        again = api.as_(provider_a).post(detail(dataset) + "new-version/", {}, format="json")
        assert again.status_code == 409

    def test_wrong_types_are_400_naming_the_field(self, api, make_dataset, provider_a):
        dataset = make_dataset()
        response = api.as_(provider_a).patch(
            detail(dataset), {"number_of_subjects": "many"}, format="json"
        )
        assert response.status_code == 400
        assert response.json()["field"] == "number_of_subjects"

    def test_malformed_json_is_400(self, api, make_dataset, provider_a):
        dataset = make_dataset()
        response = api.as_(provider_a).generic(
            "PATCH", detail(dataset), "{not json", content_type="application/json"
        )
        assert response.status_code == 400

    def test_oversized_body_is_413_and_nothing_changes(
        self, api, make_dataset, provider_a, settings
    ):
        dataset = make_dataset()
        body = json.dumps({"description": "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 10)})
        response = api.as_(provider_a).generic(
            "PATCH", detail(dataset), body, content_type="application/json"
        )
        assert response.status_code == 413
        dataset.refresh_from_db()
        assert dataset.description.startswith("Low-dose")

    def test_malformed_id_is_404_not_500(self, api, researcher):
        assert api.as_(researcher).get("/api/v1/datasets/not-a-uuid/").status_code == 404
