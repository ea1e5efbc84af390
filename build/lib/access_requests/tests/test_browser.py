"""The issue's story in a real Chromium: a researcher requests three datasets from two
providers for a project; one committee approves two with conditions after a majority
vote, the other rejects one; the project holds two entitlements; one is revoked later."""

import re

import pytest

from access_requests.models import AccessRequest, Entitlement
from conftest import shot

from .workflow import NEXT_YEAR

pytestmark = pytest.mark.browser
PASSWORD = "pw-" + "x" * 12
PDF = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"


def sign_in(page, base: str, username: str) -> None:
    page.context.clear_cookies()
    page.goto(base + "/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_text(username).first.is_visible()


def test_the_story_in_the_browser(live_server, page, setup, people, tmp_path):
    base = live_server.url
    _, datasets = setup
    a_one, a_two, b_one = datasets

    # The researcher fills the basket from the dataset pages and from the search.
    sign_in(page, base, "researcher")
    for dataset in (a_one, a_two):
        page.goto(f"{base}/datasets/{dataset.pk}/")
        page.get_by_role("button", name=f"Add to basket {dataset.title}").click()
        assert page.get_by_text(f"Added “{dataset.title}” to your basket.").is_visible()
    page.goto(f"{base}/?q=lung")
    page.get_by_role("button", name=f"Add to basket {b_one.title}").click()
    assert page.get_by_text(f"Added “{b_one.title}” to your basket.").is_visible()
    assert "q=lung" in page.url  # back on the same search
    page.get_by_role("link", name=re.compile("^Basket")).click()
    assert page.get_by_role("row").count() == 4  # the heading and three datasets

    page.select_option("#id_project", "LUNG-AI")
    page.fill("#id_purpose", "Train and validate a lung nodule detector.")
    page.get_by_label("disease specific research (DS)").check()
    page.fill("#id_purpose_icd10", "C34.1")
    page.fill("#id_ethics_reference", "CEIm 2026/118")
    approval = tmp_path / "approval.pdf"
    approval.write_bytes(PDF)
    page.set_input_files("#id_ethics_document", str(approval))
    for box in page.locator("input[name=accepted]").all():
        box.check()
    page.get_by_role("button", name="Check my purpose").click()
    assert page.get_by_text("Matches the purpose").count() == 3
    shot(page, "access-basket")

    # "Check my purpose" kept what was typed but not the file: attach it again and submit.
    page.set_input_files("#id_ethics_document", str(approval))
    page.get_by_role("button", name="Submit the request").click()
    request = AccessRequest.objects.get()
    assert page.get_by_text(f"Request {request.pk} submitted to the committees.").is_visible()
    assert request.state == "submitted" and request.ethics_document

    # Hospital A's committee: two yes votes, then the chair approves both with conditions.
    decision = f"{base}/committee/requests/{request.pk}/{a_one.organisation.slug}/"
    for member, comment in (("a1", "Sound protocol."), ("a2", "Agreed.")):
        sign_in(page, base, member)
        page.get_by_role("link", name="Committee", exact=True).click()
        page.get_by_role("link", name=f"Request {request.pk}").click()
        assert page.url == decision
        page.get_by_label("Yes").check()
        page.fill("#vote-comment", comment)
        page.get_by_role("button", name="Cast the vote").click()
        assert page.get_by_text("Your vote is recorded.").is_visible()
    sign_in(page, base, "a1")
    page.goto(decision)
    assert page.get_by_text("the vote says approve").is_visible()
    for dataset in (a_one, a_two):
        page.check(f"#approve-{dataset.pk}")
        page.fill(f"#conditions-{dataset.pk}", "No re-identification; cite Hospital A.")
        page.fill(f"#end_date-{dataset.pk}", NEXT_YEAR.isoformat())
    shot(page, "access-decision")
    page.get_by_role("button", name="Record the decision").click()
    assert page.get_by_text("The decision is recorded").is_visible()

    # Hospital B's committee (one approver) rejects its dataset.
    sign_in(page, base, "b1")
    page.goto(f"{base}/committee/requests/{request.pk}/{b_one.organisation.slug}/")
    page.check(f"#reject-{b_one.pk}")
    page.fill(f"#reason-{b_one.pk}", "Consent does not cover AI training.")
    page.get_by_role("button", name="Record the decision").click()
    assert page.get_by_text("The decision is recorded").is_visible()

    # The researcher sees the outcome and the project's two entitlements.
    sign_in(page, base, "researcher")
    page.get_by_role("link", name="My requests").click()
    page.get_by_role("link", name=f"Request {request.pk}").click()
    assert page.get_by_text("Partially approved").first.is_visible()
    assert page.get_by_text("Consent does not cover AI training.").is_visible()
    shot(page, "access-request")
    page.goto(f"{base}/projects/LUNG-AI/")
    access = page.locator("table", has_text="Passport visa")
    assert access.get_by_text("Active").count() == 2
    assert Entitlement.objects.filter(state="active").count() == 2

    # Later, Hospital A's committee revokes one of them.
    sign_in(page, base, "a2")
    page.goto(decision)
    granted = page.locator("li.entitlement", has_text=a_two.title)
    granted.get_by_label("Why access ends").fill("Patients withdrew consent.")
    granted.get_by_role("button", name="Revoke access").click()
    assert page.get_by_text("no longer has access").is_visible()

    sign_in(page, base, "researcher")
    page.goto(f"{base}/projects/LUNG-AI/")
    assert page.get_by_text("Patients withdrew consent.").is_visible()
    assert Entitlement.objects.get(dataset=a_two).state == "revoked"
    assert Entitlement.objects.get(dataset=a_one).state == "active"
    shot(page, "access-project")

    # Every step is on the request's timeline.
    actions = list(request.events.values_list("action", flat=True))
    for step in ("create", "document", "submit", "review", "vote", "decide", "settle", "revoke"):
        assert step in actions
