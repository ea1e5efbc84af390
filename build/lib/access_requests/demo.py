"""Demo projects and requests: project LUNG-AI of the demo researcher, a request spanning
both demo organisations that one committee approved with conditions and the other
rejected (two entitlements, one later revoked), and one still under review with a vote
and a question in its thread."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from django.core.files.uploadedfile import SimpleUploadedFile
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
    approval = SimpleUploadedFile(
        "approval.pdf", demo_pdf("Ethics approval CEIm-2026-041 (demo)"), "application/pdf"
    )
    services.attach_ethics_document(request=request, by=researcher, upload=approval)
    return services.submit_request(request=request, by=researcher)


def demo_pdf(line: str) -> bytes:
    """A one-page PDF saying `line`: the demo's ethics approval."""
    text = line.replace("\\", "").replace("(", "[").replace(")", "]")
    stream = f"BT /F1 14 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


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
