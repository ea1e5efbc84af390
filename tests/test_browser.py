"""A real Chromium drives the pages as people do: search, filter, open, sign in, create, release."""

import pytest

from conftest import shot

pytestmark = pytest.mark.browser


def test_visitor_searches_filters_and_opens_a_dataset(
    live_server, page, make_dataset, org_b, provider_b
):
    make_dataset("published", title="Published lung CT")
    make_dataset("released", title="Released lung CT")
    make_dataset(
        "published",
        organisation=org_b,
        by=provider_b,
        title="Glioma brain MR",
        modalities=["MR"],
        body_parts=["BRAIN"],
        diagnoses=["C71.9"],
        age_min=18,
        age_max=45,
    )

    page.goto(live_server.url + "/")
    results = page.locator("main")
    assert results.get_by_role("link", name="Published lung CT").is_visible()
    assert results.get_by_role("link", name="Glioma brain MR").is_visible()
    assert results.get_by_role("link", name="Released lung CT").count() == 0
    assert page.locator("svg").count() >= 2  # facet charts are drawn
    shot(page, "search")

    page.locator("fieldset.facet", has_text="Modality").get_by_text("MR").first.click()
    page.get_by_role("button", name="Apply filters").click()
    assert "modality=MR" in page.url
    assert page.get_by_role("link", name="Glioma brain MR").is_visible()
    assert page.get_by_role("link", name="Published lung CT").count() == 0

    page.get_by_role("link", name="Glioma brain MR").click()
    assert page.get_by_role("heading", name="Glioma brain MR").is_visible()
    assert page.get_by_text("Hospital B").first.is_visible()
    shot(page, "dataset")


def test_provider_signs_in_creates_and_releases_a_dataset(live_server, page, provider_a, org_a):
    page.goto(live_server.url + "/accounts/login/")
    page.fill("#id_username", "provider_a")
    page.fill("#id_password", "pw-" + "x" * 12)
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_text("provider_a").first.is_visible()

    page.goto(live_server.url + "/datasets/new/")
    page.fill("#id_title", "Prostate biparametric MR")
    page.fill("#id_description", "Biparametric prostate MR with PI-RADS scores.")
    page.fill("#id_modalities", "MR")
    page.get_by_role("button", name="Create draft").click()
    assert page.get_by_role("heading", name="Prostate biparametric MR").is_visible()

    page.get_by_role("button", name="Release").click()
    assert page.get_by_text("Released").first.is_visible()
    history = page.locator("table", has_text="Created")
    assert history.get_by_text("Released").count() >= 1
    shot(page, "released")

    from catalogue.models import Dataset

    assert Dataset.objects.get(title="Prostate biparametric MR").state == "released"
