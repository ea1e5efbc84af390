"""The request workflow through its services: the story of the issue, the committee rules,
and every (state, action) pair."""

from datetime import timedelta

import pytest

from access_requests import services
from access_requests.models import AccessRequest, Committee, Entitlement
from access_requests.tests.workflow import (
    NEXT_YEAR,
    approve_all,
    part_of,
    reject_all,
    submitted,
)
from conftest import make_user
from hub.errors import InvalidTransition, NotAllowed, ValidationFailed
from hub.models import Role

RS = AccessRequest.State


def test_the_story_two_providers_one_approves_after_a_vote_one_rejects(setup, people, org_a, org_b):
    request = submitted(setup, people)
    a, b = part_of(request, org_a), part_of(request, org_b)
    assert a.items.count() == 2 and b.items.count() == 1  # routed per organisation
    services.vote(part=a, by=people["a2"], choice="yes", comment="Fine with conditions.")
    services.vote(part=a, by=people["a3"], choice="yes")
    request.refresh_from_db()
    assert request.state == RS.UNDER_REVIEW
    services.decide(part=a, by=people["a1"], decisions=approve_all(a))
    services.decide(part=b, by=people["b1"], decisions=reject_all(b))
    request.refresh_from_db()
    assert request.state == RS.PARTIALLY_APPROVED
    entitlements = Entitlement.objects.filter(project__code="LUNG-AI")
    assert entitlements.count() == 2
    assert {e.conditions for e in entitlements} == {"No export."}
    services.revoke_entitlement(entitlement=entitlements[0], by=people["a2"], reason="Breach.")
    assert Entitlement.objects.filter(state="active").count() == 1
    actions = list(request.events.values_list("action", flat=True))
    assert actions[:4] == ["create", "submit", "review", "vote"]
    assert actions.count("decide") == 2 and actions[-1] == "revoke"


def test_one_approval_and_one_rejection_make_exactly_one_entitlement(setup, people, org_a, org_b):
    project, datasets = setup
    request = services.create_request(
        by=people["researcher"], project=project, datasets=[datasets[0], datasets[2]]
    )
    services.edit_request(
        request=request,
        by=people["researcher"],
        purpose="AI",
        terms_accepted=[datasets[0].pk, datasets[2].pk],
    )
    services.submit_request(request=request, by=people["researcher"])
    Committee.objects.filter(organisation=org_a).update(rule=Committee.Rule.ONE_APPROVER)
    services.decide(
        part=part_of(request, org_a),
        by=people["a2"],
        decisions=approve_all(part_of(request, org_a)),
    )
    services.decide(
        part=part_of(request, org_b), by=people["b1"], decisions=reject_all(part_of(request, org_b))
    )
    request.refresh_from_db()
    assert request.state == RS.PARTIALLY_APPROVED
    assert Entitlement.objects.count() == 1


def test_majority_rule_chair_quorum_and_agreement(setup, people, org_a):
    request = submitted(setup, people)
    a = part_of(request, org_a)
    services.vote(part=a, by=people["a2"], choice="no", comment="Too broad.")
    with pytest.raises(NotAllowed):
        services.decide(part=a, by=people["a2"], decisions=reject_all(a))  # not the chair
    with pytest.raises(InvalidTransition, match="quorum"):
        services.decide(part=a, by=people["a1"], decisions=reject_all(a))
    services.vote(part=a, by=people["a3"], choice="abstain")
    with pytest.raises(InvalidTransition, match="quorum"):  # abstentions do not count
        services.decide(part=a, by=people["a1"], decisions=reject_all(a))
    services.vote(part=a, by=people["a1"], choice="no")
    with pytest.raises(ValidationFailed, match="agree with the vote"):
        services.decide(part=a, by=people["a1"], decisions=approve_all(a))
    services.decide(part=a, by=people["a1"], decisions=reject_all(a))
    assert not Entitlement.objects.exists()


def test_conflicts_and_own_projects_keep_people_from_judging(
    setup, people, org_a, org_b, researcher
):
    request = submitted(setup, people)
    a = part_of(request, org_a)
    services.declare_conflict(part=a, by=people["a2"], note="Co-author of the PI.")
    with pytest.raises(NotAllowed, match="conflict"):
        services.vote(part=a, by=people["a2"], choice="yes")
    services.add_member(project=request.project, by=researcher, user=people["a3"])
    with pytest.raises(NotAllowed, match="own project"):
        services.vote(part=a, by=people["a3"], choice="yes")
    with pytest.raises(NotAllowed, match="committee of this part"):
        services.vote(part=a, by=people["b1"], choice="yes")  # another organisation's part


def test_a_returned_part_is_changed_and_resubmitted_the_others_keep_their_decisions(
    setup, people, org_a, org_b
):
    request = submitted(setup, people)
    b = part_of(request, org_b)
    services.decide(part=b, by=people["b1"], decisions=approve_all(b))
    a = part_of(request, org_a)
    services.return_part(part=a, by=people["a2"], note="Add the ethics approval reference.")
    request.refresh_from_db()
    assert request.state == RS.RETURNED
    services.edit_request(
        request=request, by=people["researcher"], ethics_reference="CEIm 2026/114"
    )
    services.submit_request(request=request, by=people["researcher"])
    a.refresh_from_db(), b.refresh_from_db()
    assert (a.state, b.state) == ("pending", "decided")
    assert Entitlement.objects.count() == 1
    assert "resubmit" in request.events.values_list("action", flat=True)


def test_submission_needs_a_purpose_and_every_terms_accepted(setup, people):
    project, datasets = setup
    request = services.create_request(by=people["researcher"], project=project, datasets=datasets)
    with pytest.raises(ValidationFailed, match="used for"):
        services.submit_request(request=request, by=people["researcher"])
    services.edit_request(
        request=request, by=people["researcher"], purpose="AI", terms_accepted=[datasets[0].pk]
    )
    with pytest.raises(ValidationFailed, match="Accept the licence"):
        services.submit_request(request=request, by=people["researcher"])


def test_only_members_request_and_only_released_data(
    setup, people, make_dataset, django_user_model
):
    project, datasets = setup
    outsider = make_user(django_user_model, "outsider", Role.RESEARCHER)
    with pytest.raises(NotAllowed):
        services.create_request(by=outsider, project=project, datasets=datasets)
    with pytest.raises(ValidationFailed, match="released or published"):
        services.create_request(
            by=people["researcher"], project=project, datasets=[make_dataset("draft")]
        )


def test_expiry_ends_entitlements_past_their_end(setup, people, org_b):
    request = submitted(setup, people)
    b = part_of(request, org_b)
    services.decide(part=b, by=people["b1"], decisions=approve_all(b))
    entitlement = Entitlement.objects.get()
    assert services.expire_entitlements(today=entitlement.end) == 0
    assert services.expire_entitlements(today=entitlement.end + timedelta(days=1)) == 1
    entitlement.refresh_from_db()
    assert entitlement.state == "expired"
    with pytest.raises(InvalidTransition, match="expired"):
        services.revoke_entitlement(entitlement=entitlement, by=people["b1"], reason="Late.")


# -- every (state, action) pair ------------------------------------------------------------


def bring_to(state, setup, people, org_a, org_b):
    project, datasets = setup
    Committee.objects.filter(organisation=org_a).update(rule=Committee.Rule.ONE_APPROVER)
    if state == RS.DRAFT:
        request = services.create_request(
            by=people["researcher"], project=project, datasets=datasets
        )
        return services.edit_request(
            request=request,
            by=people["researcher"],
            purpose="AI",
            terms_accepted=[d.pk for d in datasets],
        )
    request = submitted(setup, people)
    a, b = part_of(request, org_a), part_of(request, org_b)
    if state == RS.UNDER_REVIEW:
        services.vote(part=a, by=people["a2"], choice="yes")
    elif state == RS.RETURNED:
        services.return_part(part=a, by=people["a2"], note="More detail.")
    elif state in (RS.APPROVED, RS.PARTIALLY_APPROVED, RS.REJECTED, RS.CLOSED):
        first = reject_all(a) if state == RS.REJECTED else approve_all(a)
        second = approve_all(b) if state in (RS.APPROVED, RS.CLOSED) else reject_all(b)
        services.decide(part=a, by=people["a2"], decisions=first)
        services.decide(part=b, by=people["b1"], decisions=second)
        if state == RS.CLOSED:
            services.close_request(request=request, by=people["researcher"])
    request.refresh_from_db()
    assert request.state == state
    return request


ACTIONS = {
    "edit": lambda r, p, a: services.edit_request(
        request=r, by=p["researcher"], purpose="Changed."
    ),
    "submit": lambda r, p, a: services.submit_request(request=r, by=p["researcher"]),
    "vote": lambda r, p, a: services.vote(
        part=r.parts.get(organisation=a), by=p["a2"], choice="yes"
    ),
    "decide": lambda r, p, a: services.decide(
        part=r.parts.get(organisation=a),
        by=p["a2"],
        decisions=approve_all(r.parts.get(organisation=a)),
    ),
    "return": lambda r, p, a: services.return_part(
        part=r.parts.get(organisation=a), by=p["a2"], note="Why."
    ),
    "close": lambda r, p, a: services.close_request(request=r, by=p["researcher"]),
}
ALLOWED = {
    RS.DRAFT: {"edit", "submit", "close"},
    RS.SUBMITTED: {"vote", "decide", "return"},
    RS.UNDER_REVIEW: {"vote", "decide", "return"},
    RS.RETURNED: {"edit", "submit", "close"},
    RS.APPROVED: {"close"},
    RS.PARTIALLY_APPROVED: {"close"},
    RS.REJECTED: {"close"},
    RS.CLOSED: set(),
}


@pytest.mark.parametrize("state", list(ALLOWED))
@pytest.mark.parametrize("action", list(ACTIONS))
def test_every_state_and_action(setup, people, org_a, org_b, state, action):
    request = bring_to(state, setup, people, org_a, org_b)
    if state in (RS.DRAFT,) and action in ("vote", "decide", "return"):
        # A draft has no parts yet: the committee has nothing to act on.
        assert not request.parts.exists()
        return
    if action in ALLOWED[state]:
        ACTIONS[action](request, people, org_a)
    else:
        with pytest.raises(InvalidTransition) as refused:
            ACTIONS[action](request, people, org_a)
        assert refused.value.details["current_state"]
        assert request.__class__.objects.get(pk=request.pk).state == state


def test_the_sandbox_asks_what_a_project_may_use(setup, people, org_b):
    from access_requests import selectors

    request = submitted(setup, people)
    b = part_of(request, org_b)
    dataset_id = b.items.get().dataset_id
    assert not selectors.may_use(request.project, dataset_id)
    services.decide(part=b, by=people["b1"], decisions=approve_all(b))
    assert selectors.may_use(request.project, dataset_id)
    assert not selectors.may_use(request.project, dataset_id, today=NEXT_YEAR + timedelta(days=1))
    entitlement = Entitlement.objects.get()
    services.revoke_entitlement(
        entitlement=entitlement, by=people["b1"], reason="Ended by the DAC."
    )
    assert not selectors.may_use(request.project, dataset_id)


def test_a_renewal_extends_the_same_entitlement(setup, people, org_b):
    request = submitted(setup, people)
    b = part_of(request, org_b)
    services.decide(part=b, by=people["b1"], decisions=approve_all(b))
    entitlement = Entitlement.objects.get()
    renewal = services.request_renewal(by=people["researcher"], entitlement=entitlement)
    services.edit_request(
        request=renewal,
        by=people["researcher"],
        purpose="Six more months of validation.",
        terms_accepted=[entitlement.dataset_id],
    )
    services.submit_request(request=renewal, by=people["researcher"])
    later = NEXT_YEAR + timedelta(days=180)
    part = renewal.parts.get()
    services.decide(
        part=part,
        by=people["b1"],
        decisions={str(entitlement.dataset_id): {"approve": True, "end_date": later}},
    )
    entitlement.refresh_from_db()
    assert Entitlement.objects.count() == 1 and entitlement.end == later
    services.revoke_entitlement(entitlement=entitlement, by=people["b1"], reason="Breach.")
    with pytest.raises(InvalidTransition, match="revoked"):
        services.request_renewal(by=people["researcher"], entitlement=entitlement)


def test_datasets_requiring_ethics_approval_need_its_reference_and_document(
    setup, people, make_dataset
):
    from django.core.files.uploadedfile import SimpleUploadedFile

    project, _ = setup
    irb = make_dataset("released", title="Needs IRB", duo_terms=["DUO:0000007", "DUO:0000021"])
    request = services.create_request(by=people["researcher"], project=project, datasets=[irb])
    services.edit_request(
        request=request, by=people["researcher"], purpose="x", terms_accepted=[irb.pk]
    )
    with pytest.raises(ValidationFailed, match=r"Needs IRB requires ethics approval"):
        services.submit_request(request=request, by=people["researcher"])
    services.edit_request(request=request, by=people["researcher"], ethics_reference="CEIm 1")
    with pytest.raises(ValidationFailed, match="attach the approval"):
        services.submit_request(request=request, by=people["researcher"])
    pdf = SimpleUploadedFile("a.pdf", b"%PDF-1.4\n%%EOF\n", content_type="application/pdf")
    services.attach_ethics_document(request=request, by=people["researcher"], upload=pdf)
    assert services.submit_request(request=request, by=people["researcher"]).state == "submitted"
