import pytest
from django.db import IntegrityError

from catalogue.facets import age_buckets, diagnosis_values, facet_values
from catalogue.models import Dataset


def test_age_buckets_cover_the_overlapped_decades():
    assert age_buckets(34, 52) == ["30-39", "40-49", "50-59"]
    assert age_buckets(0, 4) == ["0-9"]
    assert age_buckets(95, 103) == ["90-99", "100+"]
    assert age_buckets(None, None) == []


def test_diagnosis_codes_also_count_under_their_category():
    assert diagnosis_values(["c34.1", "C50"]) == {"C34.1", "C34", "C50"}


def test_facet_values_of_a_dataset(make_dataset):
    dataset = make_dataset()
    values = facet_values(dataset)
    assert ("modality", "CT") in values
    assert ("sex", "female") in values and ("sex", "male") in values
    assert ("provider", "hospital-a") in values
    assert ("age", "70-79") in values
    assert ("duo", "DUO:0000007") in values


def test_database_refuses_a_second_draft_of_the_same_predecessor(make_dataset, org_a):
    v1 = make_dataset("released")
    Dataset.objects.create(organisation=org_a, title="v2", description="d", previous_version=v1)
    with pytest.raises(IntegrityError):
        Dataset.objects.create(
            organisation=org_a, title="v2 again", description="d", previous_version=v1
        )


def test_database_refuses_an_inverted_age_range(org_a):
    with pytest.raises(IntegrityError):
        Dataset.objects.create(
            organisation=org_a, title="t", description="d", age_min=80, age_max=10
        )
