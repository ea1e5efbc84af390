"""'Matches my purpose': the search keeps the datasets whose DUO data-use terms allow a
research purpose, in the API and on the search page, on DUO's own examples."""

from __future__ import annotations

import json
import re

import pytest
from django.urls import reverse

from conftest import page_text as text
from conftest import signed_in as as_

pytestmark = pytest.mark.django_db

API = "/api/v1/datasets/"
PAGE = reverse("catalogue:search")

NRES = "DUO:0000004"
HMB = "DUO:0000006"
DS = "DUO:0000007"
POA = "DUO:0000011"
IRB = "DUO:0000021"  # a modifier: ethics approval required
GRU = "DUO:0000042"


@pytest.fixture
def datasets(make_dataset):
    """Published datasets, one per kind of data-use condition."""

    def published(title, duo_terms, diagnoses=(), modalities=("CT",), **extra):
        return make_dataset(
            "published",
            title=title,
            duo_terms=list(duo_terms),
            diagnoses=list(diagnoses),
            modalities=list(modalities),
            **extra,
        )

    return {
        "gru": published("GRU brain MR", [GRU], ["C71.9"], ["MR"]),
        "hmb": published("HMB breast MR", [HMB], ["C50.9"], ["MR"]),
        "ds_lung": published("DS lung CT", [DS, IRB], ["C34.1"]),
        "ds_none": published("DS without diagnoses", [DS]),
        "nres": published("NRES colon CT", [NRES], ["C18.7"]),
        "poa": published("POA cohort", [POA], ["C61"]),
        "none": published("No data-use terms", []),
        "unknown": published("Unknown term", ["DUO:9999999"]),
    }


def found(client_get, **query) -> list[str]:
    response = client_get(API, query)
    assert response.status_code == 200, response.content
    return sorted(d["title"] for d in response.json()["results"])


class TestApi:
    def test_general_research_use_dataset_allows_health_research(self, api, datasets):
        # GRU allows HMB (HMB is under GRU), HMB allows itself, NRES allows anything;
        # DS does not allow the wider HMB; POA, no terms and unknown terms never match.
        assert found(api.anonymous().get, purpose=HMB) == [
            "GRU brain MR",
            "HMB breast MR",
            "NRES colon CT",
        ]

    def test_health_research_dataset_does_not_allow_general_research(self, api, datasets):
        assert found(api.anonymous().get, purpose=GRU) == ["GRU brain MR", "NRES colon CT"]

    def test_population_research_is_allowed_only_where_stated_or_unrestricted(self, api, datasets):
        # In this DUO release POA sits directly under "data use permission", beside GRU.
        assert found(api.anonymous().get, purpose=POA) == ["NRES colon CT", "POA cohort"]

    def test_disease_specific_dataset_matches_on_its_icd10_codes(self, api, datasets):
        lung = found(api.anonymous().get, purpose=DS, purpose_disease="C34.1")
        assert lung == ["DS lung CT", "GRU brain MR", "HMB breast MR", "NRES colon CT"]

        breast = found(api.anonymous().get, purpose=DS, purpose_disease="C50")
        assert breast == ["GRU brain MR", "HMB breast MR", "NRES colon CT"]

        # The dataset covers C34.1 only, not the whole of C34.
        wider = found(api.anonymous().get, purpose=DS, purpose_disease="C34")
        assert "DS lung CT" not in wider

    def test_every_purpose_disease_must_be_covered(self, api, datasets):
        both = found(api.anonymous().get, purpose=DS, purpose_disease="C34.1,C50")
        assert "DS lung CT" not in both
        assert "GRU brain MR" in both

    def test_disease_specific_purpose_without_codes_needs_review_so_is_left_out(
        self, api, datasets
    ):
        assert found(api.anonymous().get, purpose=DS) == [
            "GRU brain MR",
            "HMB breast MR",
            "NRES colon CT",
        ]

    def test_purpose_disease_alone_means_disease_specific_research(self, api, datasets):
        assert found(api.anonymous().get, purpose_disease="C34.1") == found(
            api.anonymous().get, purpose=DS, purpose_disease="C34.1"
        )

    def test_duo_spellings_are_accepted(self, api, datasets):
        expected = found(api.anonymous().get, purpose=HMB)
        assert found(api.anonymous().get, purpose="DUO_0000006") == expected
        iri = "http://purl.obolibrary.org/obo/DUO_0000006"
        assert found(api.anonymous().get, purpose=iri) == expected

    def test_no_restriction_allows_anything(self, api, datasets):
        for purpose in (GRU, HMB, POA, NRES):
            assert "NRES colon CT" in found(api.anonymous().get, purpose=purpose)

    @pytest.mark.parametrize(
        ("query", "parameter", "named"),
        [
            ({"purpose": "DUO:9999999"}, "purpose", "DUO:9999999"),
            ({"purpose": "HMB"}, "purpose", "HMB"),
            ({"purpose": IRB}, "purpose", IRB),
            ({"purpose": DS, "purpose_disease": "lung"}, "purpose_disease", "lung"),
            ({"purpose_disease": "C39-C30"}, "purpose_disease", "C39-C30"),
            ({"purpose": HMB, "purpose_disease": "C34"}, "purpose_disease", DS),
        ],
    )
    def test_bad_purpose_answers_400_naming_the_value(self, api, datasets, query, parameter, named):
        response = api.anonymous().get(API, query)
        assert response.status_code == 400
        assert response.json()["parameter"] == parameter
        assert named in response.json()["detail"]

    def test_composes_with_text_facets_counts_and_paging(self, api, datasets):
        body = api.anonymous().get(API, {"purpose": HMB, "page_size": 2}).json()
        assert body["count"] == 3 and body["pages"] == 2
        duo_counts = {c["value"]: c["count"] for c in body["facets"]["duo"]}
        assert duo_counts == {GRU: 1, HMB: 1, NRES: 1}
        assert {c["value"] for c in body["facets"]["modality"]} == {"CT", "MR"}

        body = api.anonymous().get(API, {"purpose": HMB, "modality": "MR"}).json()
        assert sorted(d["title"] for d in body["results"]) == ["GRU brain MR", "HMB breast MR"]

        body = api.anonymous().get(API, {"purpose": HMB, "q": "breast"}).json()
        assert [d["title"] for d in body["results"]] == ["HMB breast MR"]
        assert body["count"] == 1

    def test_only_visible_datasets_are_matched(self, api, datasets, make_dataset, researcher):
        make_dataset("released", title="Released GRU", duo_terms=[GRU])
        assert "Released GRU" not in found(api.anonymous().get, purpose=HMB)
        assert "Released GRU" in found(api.as_(researcher).get, purpose=HMB)

    def test_narrowing_to_few_or_no_matches(self, api, make_dataset):
        # Most candidates fail here, and then all of them: the query is narrowed to the
        # matching ids, or to none, rather than away from the failing ones.
        for n, code in enumerate(["C34.1", "C50.9", "C18.7", "C61", "C71.9"]):
            make_dataset("published", title=f"DS {n} {code}", duo_terms=[DS], diagnoses=[code])
        assert found(api.anonymous().get, purpose=DS, purpose_disease="C34") == []
        assert found(api.anonymous().get, purpose=DS, purpose_disease="C34.1") == ["DS 0 C34.1"]
        assert found(api.anonymous().get, purpose=DS, purpose_disease="C30-C39") == []
        body = api.anonymous().get(API, {"purpose": DS, "purpose_disease": "C61"}).json()
        assert body["count"] == 1
        assert {c["value"] for c in body["facets"]["diagnosis"]} == {"C61"}

    def test_codes_outside_icd10_in_a_dataset_do_not_hide_its_good_ones(self, api, make_dataset):
        make_dataset("published", title="Mixed", duo_terms=[DS], diagnoses=["C34.1", "lung cancer"])
        assert found(api.anonymous().get, purpose=DS, purpose_disease="C34.1") == ["Mixed"]

    def test_schema_documents_the_parameters(self, api, db):
        response = api.anonymous().get(reverse("schema"), {"format": "json"})
        assert response.status_code == 200
        schema = json.loads(response.content)
        names = {p["name"] for p in schema["paths"]["/api/v1/datasets/"]["get"]["parameters"]}
        assert {"purpose", "purpose_disease"} <= names


class TestPage:
    def test_page_offers_the_permission_terms_and_a_disease_field(self, datasets):
        html = text(as_(None).get(PAGE))
        assert "<legend>Matches my purpose</legend>" in html
        for term, label in [
            (GRU, "general research use"),
            (HMB, "health or medical or biomedical research"),
            (DS, "disease specific research"),
            (POA, "population origins or ancestry research only"),
            (NRES, "no restriction"),
        ]:
            checkbox = re.search(rf'id="(purpose-\d+)" name="purpose" value="{term}"', html)
            assert checkbox, term
            assert f'<label for="{checkbox.group(1)}">' in html
            assert f"{label} ({term})" in html
        assert IRB not in re.findall(r'name="purpose" value="([^"]+)"', html)
        assert '<label for="purpose_disease">' in html
        assert 'id="purpose_disease" name="purpose_disease" value=""' in html

    def test_purpose_narrows_the_results_and_keeps_the_choice(self, datasets, settings):
        settings.CATALOGUE_PAGE_SIZE = 2
        response = as_(None).get(PAGE, {"purpose": DS, "purpose_disease": "c34.1"})

        assert response.status_code == 200
        html = text(response)
        assert "4 datasets" in html
        assert re.search(
            rf'name="purpose" value="{DS}" aria-describedby="purpose-hint" checked', html
        )
        assert not re.search(rf'name="purpose" value="{HMB}"[^>]*checked', html)
        assert 'name="purpose_disease" value="C34.1"' in html
        # paging and the chips keep the purpose
        assert (
            f'href="/?purpose={DS.replace(":", "%3A")}&amp;purpose_disease=C34.1&amp;page=2"'
            in html
        )
        assert "Matches my purpose: disease specific research (DUO:0000007)" in html
        assert "Purpose disease (ICD-10): C34.1" in html

    def test_facet_links_keep_the_purpose(self, datasets):
        html = text(as_(None).get(PAGE, {"purpose": HMB, "modality": "MR"}))
        assert "GRU brain MR" in html and "HMB breast MR" in html
        assert "NRES colon CT" not in html
        # removing the modality chip keeps the purpose; removing the purpose keeps the modality
        assert f'href="/?purpose={HMB.replace(":", "%3A")}"' in html
        assert 'href="/?modality=MR"' in html

    def test_removing_disease_specific_research_drops_its_diseases(self, datasets):
        html = text(as_(None).get(PAGE, {"purpose": [DS, GRU], "purpose_disease": "C34.1"}))
        enc = {t: t.replace(":", "%3A") for t in (DS, GRU)}
        assert f'href="/?purpose={enc[GRU]}"' in html  # DS chip: its diseases go with it
        assert f'href="/?purpose={enc[DS]}&amp;purpose_disease=C34.1"' in html

    def test_bad_purpose_is_shown_on_the_page(self, datasets):
        response = as_(None).get(PAGE, {"purpose": "DUO:9999999"})
        assert response.status_code == 400
        html = text(response)
        assert "The search could not be run" in html
        assert "<code>purpose</code>" in html
        assert "DUO:9999999" in html
