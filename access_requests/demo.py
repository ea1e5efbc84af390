"""Demo projects and requests: project LUNG-AI of the demo researcher, a request spanning
both demo organisations that one committee approved with conditions and the other
rejected (two entitlements, one later revoked), and one still under review with a vote
and a question in its thread."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from django.utils import timezone

from catalogue.models import Dataset
from hub.models import Organisation

from . import services
from .models import Committee, Entitlement, Project


def load(
    *,
    code: str,
    researcher,
    committees: dict[str, object],
    organisations: dict[str, Organisation],
    say: Callable[[str], None],
) -> None:
    if Project.objects.filter(code=code).exists():
        say(f"Demo project {code} already there; nothing added.")
        return
    project = services.create_project(
        by=researcher,
        code=code,
        title="Lung nodule detection across two hospitals",
        purpose="Train and externally validate a lung nodule detector on screening CT.",
    )
    for organisation in organisations.values():
        Committee.objects.get_or_create(
            organisation=organisation, defaults={"rule": Committee.Rule.ONE_APPROVER}
        )
    available = Dataset.objects.filter(state__in=["released", "published"]).order_by("title")
    lafe = list(available.filter(organisation=organisations["la-fe"])[:3])
    inta = list(available.filter(organisation=organisations["int-milano"])[:2])
    end = timezone.localdate() + timedelta(days=365)

    decided = _submitted(project, researcher, [*lafe[:2], inta[0]], "Detector training.")
    lafe_part = decided.parts.get(organisation=organisations["la-fe"])
    services.vote(part=lafe_part, by=committees["la-fe"], choice="yes", comment="Consented.")
    services.decide(
        part=lafe_part,
        by=committees["la-fe"],
        decisions={
            str(d.pk): {"approve": True, "end_date": end, "conditions": "Sandbox only; cite."}
            for d in lafe[:2]
        },
    )
    int_part = decided.parts.get(organisation=organisations["int-milano"])
    services.decide(
        part=int_part,
        by=committees["int-milano"],
        decisions={str(inta[0].pk): {"approve": False, "reason": "Consent excludes AI training."}},
    )
    revoked = Entitlement.objects.filter(project=project).order_by("pk").last()
    services.revoke_entitlement(
        entitlement=revoked, by=committees["la-fe"], reason="Data withdrawn by the ethics board."
    )

    waiting = _submitted(project, researcher, [lafe[2], inta[1]], "External validation.")
    part = waiting.parts.get(organisation=organisations["int-milano"])
    services.vote(part=part, by=committees["int-milano"], choice="abstain")
    services.post_message(
        part=part, by=committees["int-milano"], text="Which reader study will you run?"
    )
    services.create_request(by=researcher, project=project, datasets=lafe[:1])  # a draft
    say(
        f"  project {code}: 3 requests (partially approved, under review, draft), "
        f"{Entitlement.objects.filter(project=project).count()} entitlements (1 revoked)"
    )


def _submitted(project, researcher, datasets, purpose):
    request = services.create_request(by=researcher, project=project, datasets=datasets)
    services.edit_request(
        request=request,
        by=researcher,
        purpose=purpose,
        purpose_duo=["DUO:0000007"],
        ethics_reference="CEIm-2026-041",
        terms_accepted=[d.pk for d in datasets],
    )
    return services.submit_request(request=request, by=researcher)


def delete(code: str) -> None:
    """Remove the demo project with its requests and entitlements (load_demo --reset)."""
    from .models import AccessRequest

    project = Project.objects.filter(code=code).first()
    if project is None:
        return
    AccessRequest.objects.filter(project=project).update(renewal_of=None)
    Entitlement.objects.filter(project=project).delete()
    AccessRequest.objects.filter(project=project).delete()
    project.delete()
