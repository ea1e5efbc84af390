"""The pages: basket, my requests, the committee inbox and the decision page, as people use
them (a Django test client with a session; Chromium walks the whole story in
tests/test_browser.py)."""

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from access_requests import services
from access_requests.models import AccessRequest, Entitlement, RequestItem, Vote

from .workflow import NEXT_YEAR, approve_all, part_of, submitted

pytestmark = pytest.mark.django_db
PDF = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"


def signed_in(client, user):
    client.force_login(user)
    return client


def add_to_basket(client, *datasets):
    for dataset in datasets:
        response = client.post(reverse("access_requests:basket-add"), {"dataset": dataset.pk})
        assert response.status_code == 302


def basket_form(project, datasets, **extra):
    return {
        "project": project.code,
        "purpose": "Train a nodule detector.",
        "purpose_duo": ["DUO:0000007"],
        "purpose_icd10": "C34.1",
        "duration_days": "365",
        "ethics_reference": "CEIm 2026/118",
        "accepted": [str(d.pk) for d in datasets],
        "action": "submit",
    } | extra


def text(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


# -- the basket ----------------------------------------------------------------------------


def test_dataset_page_offers_the_basket_and_the_basket_lists_what_was_added(client, setup, people):
    _, datasets = setup
    signed_in(client, people["researcher"])
    page = client.get(reverse("catalogue:dataset", args=[datasets[0].pk]))
    assert "Add to basket" in text(page)

    add_to_basket(client, datasets[0], datasets[2])
    basket = text(client.get(reverse("access_requests:basket")))
    assert "A one" in basket and "B one" in basket and "A two" not in basket
    assert "In your basket" in text(client.get(reverse("catalogue:dataset", args=[datasets[0].pk])))

    client.post(reverse("access_requests:basket-remove"), {"dataset": datasets[0].pk})
    basket = text(client.get(reverse("access_requests:basket")))
    assert "A one" not in basket and "B one" in basket


def test_a_visitor_is_asked_to_sign_in_and_a_draft_dataset_cannot_be_added(
    client, setup, people, make_dataset
):
    _, datasets = setup
    published = datasets[1]  # visitors see published datasets only
    page = text(client.get(reverse("catalogue:dataset", args=[published.pk])))
    assert "Sign in to request access" in page and "Add to basket" not in page

    signed_in(client, people["researcher"])
    hidden = make_dataset("draft", title="Not yet released")
    response = client.post(reverse("access_requests:basket-add"), {"dataset": hidden.pk})
    assert response.status_code == 404  # a researcher cannot even see a draft
    assert client.session.get("basket", []) == []


def test_checking_the_purpose_shows_a_verdict_per_dataset_and_writes_nothing(client, setup, people):
    project, datasets = setup
    signed_in(client, people["researcher"])
    add_to_basket(client, *datasets)
    url = reverse("access_requests:basket")

    lung = text(client.post(url, basket_form(project, datasets, action="check")))
    assert lung.count("Matches the purpose") == 3
    breast = text(
        client.post(url, basket_form(project, datasets, action="check", purpose_icd10="C50"))
    )
    assert breast.count("Does not match the purpose") == 3
    assert "falls outside the dataset&#x27;s ICD-10 C34.1" in breast
    whole_lung = text(
        client.post(url, basket_form(project, datasets, action="check", purpose_icd10="C34"))
    )
    assert whole_lung.count("Does not match the purpose") == 3  # C34.1 holds less than C34
    general = text(
        client.post(
            url, basket_form(project, datasets, action="check", purpose_duo=["DUO:0000042"])
        )
    )
    assert general.count("Does not match the purpose") == 3
    assert AccessRequest.objects.count() == 0


def test_submitting_the_basket_sends_one_request_split_by_provider(client, setup, people):
    project, datasets = setup
    signed_in(client, people["researcher"])
    add_to_basket(client, *datasets)
    document = SimpleUploadedFile("approval.pdf", PDF, content_type="application/pdf")
    response = client.post(
        reverse("access_requests:basket"),
        basket_form(project, datasets, ethics_document=document),
    )
    request = AccessRequest.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("access_requests:request", args=[request.pk])
    assert request.state == "submitted" and request.purpose_icd10 == ["C34.1"]
    assert request.ethics_document.read().startswith(b"%PDF-")
    assert sorted(p.organisation.slug for p in request.parts.all()) == [
        "hospital-a",
        "hospital-b",
    ]
    assert client.session["basket"] == []


def test_a_refused_basket_request_keeps_the_basket_and_creates_nothing(client, setup, people):
    project, datasets = setup
    signed_in(client, people["researcher"])
    add_to_basket(client, *datasets)
    url = reverse("access_requests:basket")

    unaccepted = basket_form(project, datasets, accepted=[str(datasets[0].pk)])
    response = client.post(url, unaccepted)
    assert response.status_code == 400
    assert "Accept the licence and terms of every requested dataset" in text(response)

    not_pdf = SimpleUploadedFile("approval.pdf", b"GIF89a...", content_type="application/pdf")
    response = client.post(url, basket_form(project, datasets, ethics_document=not_pdf))
    assert response.status_code == 400
    assert "must be a PDF" in text(response)

    assert AccessRequest.objects.count() == 0 and RequestItem.objects.count() == 0
    assert len(client.session["basket"]) == 3


def test_a_basket_request_for_someone_elses_project_is_refused(
    client, setup, people, django_user_model
):
    _, datasets = setup
    from conftest import make_user

    other = make_user(django_user_model, "other", "researcher")
    theirs = services.create_project(by=other, code="THEIRS", title="T", purpose="P")
    signed_in(client, people["researcher"])
    add_to_basket(client, *datasets)
    response = client.post(reverse("access_requests:basket"), basket_form(theirs, datasets))
    assert response.status_code == 400  # not one of the choices offered
    assert AccessRequest.objects.count() == 0


# -- my requests ---------------------------------------------------------------------------


def test_my_requests_lists_my_projects_requests_with_counts_and_a_timeline(
    client, setup, people, django_user_model
):
    request = submitted(setup, people)
    signed_in(client, people["researcher"])
    listing = text(client.get(reverse("access_requests:requests")))
    assert f"Request {request.pk}" in listing and 'Submitted <span class="count">1</span>' in (
        listing
    )
    page = text(client.get(reverse("access_requests:request", args=[request.pk])))
    assert "Hospital A" in page and "Hospital B" in page
    assert "submitted the request" in page and "created the request" in page

    from conftest import make_user

    stranger = make_user(django_user_model, "stranger", "researcher")
    signed_in(client, stranger)
    assert f"Request {request.pk}" not in text(client.get(reverse("access_requests:requests")))
    assert client.get(reverse("access_requests:request", args=[request.pk])).status_code == 404


def test_a_returned_request_is_edited_and_submitted_again_keeping_its_history(
    client, setup, people
):
    request = submitted(setup, people)
    services.return_part(
        part=part_of(request, setup[1][2].organisation), by=people["b1"], note="Add the protocol."
    )
    signed_in(client, people["researcher"])
    page = text(client.get(reverse("access_requests:request", args=[request.pk])))
    assert "Returned for changes" in page and "Add the protocol." in page

    edit = reverse("access_requests:request-edit", args=[request.pk])
    form = text(client.get(edit))
    assert "Train and validate a lung nodule detector." in form
    response = client.post(
        edit,
        {
            "purpose": "Train a detector; protocol v2 attached.",
            "purpose_duo": ["DUO:0000007"],
            "purpose_icd10": "C34",
            "duration_days": "200",
            "ethics_reference": "CEIm 2026/118",
            "accepted": [str(d.pk) for d in setup[1]],
            "action": "submit",
        },
    )
    assert response.status_code == 302
    request.refresh_from_db()
    assert request.state == "submitted" and request.duration_days == 200
    actions = list(request.events.values_list("action", flat=True))
    assert actions[-2:] == ["return", "resubmit"] and actions[0] == "create"


def test_editing_with_an_unknown_disease_code_is_refused_in_place(client, setup, people):
    project, datasets = setup
    request = services.create_request(by=people["researcher"], project=project, datasets=datasets)
    signed_in(client, people["researcher"])
    response = client.post(
        reverse("access_requests:request-edit", args=[request.pk]),
        {"purpose": "x", "purpose_icd10": "lung", "duration_days": "30", "action": "save"},
    )
    assert response.status_code == 400
    assert "not an ICD-10 code" in text(response)
    request.refresh_from_db()
    assert request.purpose == "" and request.purpose_icd10 == []


# -- the committee -------------------------------------------------------------------------


def test_the_inbox_shows_only_my_organisations_parts_with_counts(client, setup, people):
    request = submitted(setup, people)
    signed_in(client, people["b1"])
    inbox = text(client.get(reverse("access_requests:inbox")))
    assert f"Request {request.pk}" in inbox and "Hospital B" in inbox and "Hospital A" not in inbox
    assert 'Waiting for my vote <span class="count">1</span>' in inbox

    services.vote(part=part_of(request, setup[1][0].organisation), by=people["a1"], choice="yes")
    signed_in(client, people["a1"])
    mine = text(client.get(reverse("access_requests:inbox") + "?state=mine"))
    assert f"Request {request.pk}" not in mine
    assert 'Under review <span class="count">1</span>' in mine

    signed_in(client, people["researcher"])
    assert client.get(reverse("access_requests:inbox")).status_code == 403
    signed_in(client, people["a1"])
    assert client.get(reverse("access_requests:inbox") + "?state=bogus").status_code == 400


def test_the_decision_page_is_for_its_own_committee_only(client, setup, people):
    request = submitted(setup, people)
    a_part = reverse("access_requests:decision", args=[request.pk, "hospital-a"])
    signed_in(client, people["b1"])
    assert client.get(a_part).status_code == 404
    signed_in(client, people["researcher"])
    assert client.get(a_part).status_code == 403
    signed_in(client, people["a2"])
    page = text(client.get(a_part))
    assert "A one" in page and "A two" in page and "B one" not in page
    assert "Matches the purpose" not in page  # the purpose names no disease yet
    assert "Needs the committee&#x27;s review" in page


def test_a_majority_vote_then_the_chairs_decision_through_the_page(client, setup, people):
    request = submitted(setup, people)
    a = setup[1][0].organisation
    action = lambda verb: reverse(  # noqa: E731
        "access_requests:decision-action", args=[request.pk, a.slug, verb]
    )
    page_url = reverse("access_requests:decision", args=[request.pk, a.slug])

    signed_in(client, people["a1"])
    client.post(action("vote"), {"choice": "yes", "comment": "Sound protocol"})
    assert "Record the decision" not in text(client.get(page_url))  # quorum is 2
    signed_in(client, people["a2"])
    client.post(action("vote"), {"choice": "yes"})
    assert "Record the decision" not in text(client.get(page_url))  # a2 is not the chair
    assert Vote.objects.filter(part__request=request).count() == 2

    signed_in(client, people["a1"])
    page = text(client.get(page_url))
    assert "2 yes" in page.replace("<strong>", "").replace("</strong>", "")
    items = part_of(request, a).items.all()
    rejected = {f"decision-{i.dataset_id}": "reject" for i in items}
    refused = client.post(
        action("decide"), rejected | {f"reason-{i.dataset_id}": "No" for i in items}
    )
    assert "must agree with the vote" in text(client.get(page_url))
    assert refused.status_code == 302 and not Entitlement.objects.exists()

    decided = {}
    for item in items:
        key = item.dataset_id
        decided |= {
            f"decision-{key}": "approve",
            f"conditions-{key}": "No re-identification; cite the provider.",
            f"end_date-{key}": NEXT_YEAR.isoformat(),
        }
    client.post(action("decide"), decided)
    assert Entitlement.objects.filter(project=request.project).count() == 2
    page = text(client.get(page_url))
    assert "No re-identification; cite the provider." in page and "Revoke access" in page

    again = client.post(action("decide"), decided)
    assert again.status_code == 302
    assert "Cannot decide on this part: it is decided." in text(client.get(page_url))


def test_the_committee_revokes_and_the_project_asks_to_renew(client, setup, people):
    request = submitted(setup, people)
    b_part = part_of(request, setup[1][2].organisation)
    services.decide(part=b_part, by=people["b1"], decisions=approve_all(b_part))
    entitlement = Entitlement.objects.get()

    signed_in(client, people["researcher"])
    project_page = text(client.get(reverse("access_requests:project", args=["LUNG-AI"])))
    assert "B one" in project_page and "Passport visa" in project_page
    response = client.post(reverse("access_requests:entitlement-renew", args=[entitlement.pk]))
    renewal = AccessRequest.objects.get(renewal_of=entitlement)
    assert response["Location"] == reverse("access_requests:request-edit", args=[renewal.pk])

    # Only the dataset's committee revokes.
    refused = client.post(
        reverse("access_requests:entitlement-revoke", args=[entitlement.pk]), {"reason": "x"}
    )
    assert refused.status_code == 403
    signed_in(client, people["b1"])
    client.post(
        reverse("access_requests:entitlement-revoke", args=[entitlement.pk]),
        {"reason": "Consent withdrawn by the patients' association."},
    )
    entitlement.refresh_from_db()
    assert entitlement.state == "revoked"

    signed_in(client, people["researcher"])
    notices = text(client.get(reverse("access_requests:notices")))
    assert "Consent withdrawn by the patients&#x27; association." in notices
    client.post(reverse("access_requests:notices"))
    assert people["researcher"].notices.filter(read_at__isnull=True).count() == 0


def test_the_thread_between_committee_and_project(client, setup, people):
    request = submitted(setup, people)
    signed_in(client, people["b1"])
    client.post(
        reverse("access_requests:decision-action", args=[request.pk, "hospital-b", "message"]),
        {"text": "Which scanner protocol do you need?"},
    )
    signed_in(client, people["researcher"])
    page = text(client.get(reverse("access_requests:request", args=[request.pk])))
    assert "Which scanner protocol do you need?" in page
    client.post(
        reverse("access_requests:part-message", args=[request.pk, "hospital-b"]),
        {"text": "Low-dose only."},
    )
    signed_in(client, people["b1"])
    page = text(client.get(reverse("access_requests:decision", args=[request.pk, "hospital-b"])))
    assert "Low-dose only." in page
    # Another organisation's committee sees neither side of it.
    signed_in(client, people["a1"])
    page = text(client.get(reverse("access_requests:decision", args=[request.pk, "hospital-a"])))
    assert "Low-dose only." not in page


def test_projects_are_created_and_members_added_by_the_lead_only(client, people, django_user_model):
    from conftest import make_user

    colleague = make_user(django_user_model, "colleague", "researcher")
    signed_in(client, people["researcher"])
    response = client.post(
        reverse("access_requests:projects"),
        {"code": "BREAST-1", "title": "Breast density", "purpose": "Density models"},
    )
    assert response["Location"] == reverse("access_requests:project", args=["BREAST-1"])
    bad = client.post(
        reverse("access_requests:projects"), {"code": "no spaces!", "title": "x", "purpose": "y"}
    )
    assert bad.status_code == 400
    client.post(
        reverse("access_requests:project-member-add", args=["BREAST-1"]),
        {"username": "colleague", "role": "member"},
    )
    signed_in(client, colleague)
    page = text(client.get(reverse("access_requests:project", args=["BREAST-1"])))
    assert "colleague" in page and "Add the member" not in page
    client.post(
        reverse("access_requests:project-member-add", args=["BREAST-1"]),
        {"username": "a1", "role": "member"},
    )
    assert not services.selectors.is_member(people["a1"], services.Project.objects.get())


def test_a_decision_with_an_impossible_end_date_is_refused_in_place(client, setup, people):
    request = submitted(setup, people)
    part = part_of(request, setup[1][2].organisation)
    (item,) = part.items.all()
    signed_in(client, people["b1"])
    url = reverse("access_requests:decision-action", args=[request.pk, "hospital-b", "decide"])
    response = client.post(
        url, {f"decision-{item.dataset_id}": "approve", f"end_date-{item.dataset_id}": "2031-02-30"}
    )
    assert response.status_code == 302
    page = text(client.get(reverse("access_requests:decision", args=[request.pk, "hospital-b"])))
    assert "is not a date" in page
    assert not Entitlement.objects.exists()


def test_the_edit_form_is_for_the_requester_only(client, setup, people):
    request = submitted(setup, people)
    services.return_part(
        part=part_of(request, setup[1][2].organisation), by=people["b1"], note="Add the protocol."
    )
    signed_in(client, people["b1"])  # sees its part, not hospital A's datasets
    response = client.get(reverse("access_requests:request-edit", args=[request.pk]))
    assert response.status_code == 403 and "A one" not in text(response)
