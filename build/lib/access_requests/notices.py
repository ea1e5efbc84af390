"""Who hears of each step of a request: in-app notices, and e-mail sent by the worker."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from hub.models import Role, RoleAssignment

from .models import AccessRequest, Notice, RequestPart


def notify(users: Iterable, text: str, request: AccessRequest | None = None) -> list[Notice]:
    """One notice per person (each once), e-mailed after the step's transaction commits."""
    unique = {u.pk: u for u in users if u is not None}
    notices = Notice.objects.bulk_create(
        Notice(user=user, request=request, text=text) for user in unique.values()
    )
    ids = [n.pk for n in notices]
    if ids:
        from .tasks import email_notices

        transaction.on_commit(lambda: email_notices.delay(ids))
    return notices


def committee_of(organisation_id: int) -> list:
    members = RoleAssignment.objects.filter(
        role=Role.COMMITTEE_MEMBER, organisation_id=organisation_id
    ).values("user_id")
    return list(get_user_model().objects.filter(pk__in=members, is_active=True))


def requesters(request: AccessRequest) -> list:
    return [request.requester, request.project.principal_investigator]


def send_emails(notice_ids: list[int]) -> int:
    """E-mail the notices not e-mailed yet (a retried task sends nothing twice)."""
    from django.core.mail import send_mail

    sent = 0
    for notice in Notice.objects.filter(pk__in=notice_ids, emailed_at=None).select_related("user"):
        if notice.user.email:
            send_mail(
                subject=f"[Agora] {notice.text[:70]}",
                message=notice.text,
                from_email=settings.DEFAULT_FROM_EMAIL,
                recipient_list=[notice.user.email],
            )
            sent += 1
        Notice.objects.filter(pk=notice.pk).update(emailed_at=timezone.now())
    return sent


def remind_waiting(now=None) -> int:
    """Remind committees of parts waiting longer than ACCESS_REQUEST_REMINDER_DAYS (again
    after as long again)."""
    now = now or timezone.now()
    due = now - timedelta(days=settings.ACCESS_REQUEST_REMINDER_DAYS)
    waiting = RequestPart.objects.filter(
        state__in=[RequestPart.State.PENDING, RequestPart.State.UNDER_REVIEW],
        request__state__in=[AccessRequest.State.SUBMITTED, AccessRequest.State.UNDER_REVIEW],
        request__submitted_at__lt=due,
    ).select_related("request", "request__project")
    reminded = 0
    for part in waiting:
        if part.reminded_at and part.reminded_at > due:
            continue
        with transaction.atomic():
            notify(
                committee_of(part.organisation_id),
                f"Reminder: request {part.request.pk} of project {part.request.project.code} "
                f"has waited for your committee since {part.request.submitted_at:%d %b %Y}.",
                part.request,
            )
            RequestPart.objects.filter(pk=part.pk).update(reminded_at=now)
        reminded += 1
    return reminded


def mark_read(user, notices=None) -> int:
    """Mark the user's notices (all unread ones by default) as read; only their own."""
    unread = Notice.objects.filter(user=user, read_at__isnull=True)
    if notices is not None:
        unread = unread.filter(pk__in=[n.pk for n in notices])
    return unread.update(read_at=timezone.now())
