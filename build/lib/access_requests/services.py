"""Every state change of projects: one function per verb, the caller explicit."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from hub.errors import (
    Conflict,
    InvalidTransition,
    PayloadTooLarge,
    ValidationFailed,
    require,
)
from hub.models import Role
from hub.roles import has_role, is_hub_admin, organisation_ids_with_role
from hyperontology import duo

from . import notices, selectors
from .models import (
    PROJECT_CODE,
    AccessRequest,
    Committee,
    ConflictOfInterest,
    Entitlement,
    Message,
    Project,
    ProjectMember,
    RequestEvent,
    RequestItem,
    RequestPart,
    Vote,
)


def create_project(*, by, code: str, title: str, purpose: str) -> Project:
    """A researcher's new project; they become its principal investigator."""
    require(
        has_role(by, Role.RESEARCHER) or is_hub_admin(by),
        "Only researchers create projects.",
    )
    code, title, purpose = (code or "").strip(), (title or "").strip(), (purpose or "").strip()
    try:
        PROJECT_CODE(code)
    except ValidationError as exc:
        raise ValidationFailed(exc.messages[0], field="code") from exc
    for name, value in (("title", title), ("purpose", purpose)):
        if not value:
            raise ValidationFailed(f"{name} is required.", field=name)
    try:
        with transaction.atomic():
            project = Project.objects.create(
                code=code, title=title, purpose=purpose, principal_investigator=by
            )
            ProjectMember.objects.create(project=project, user=by, role=ProjectMember.Role.PI)
    except IntegrityError as exc:
        raise Conflict(f"A project with code {code} exists already.", field="code") from exc
    return project


def add_member(*, project: Project, by, user, role: str = ProjectMember.Role.MEMBER):
    """The principal investigator (or a hub administrator) adds someone to the project."""
    _require_lead(project, by)
    if role not in ProjectMember.Role.values:
        raise ValidationFailed(
            f"role must be one of {', '.join(ProjectMember.Role.values)}.", field="role"
        )
    with transaction.atomic():
        member, _ = ProjectMember.objects.update_or_create(
            project=project, user=user, defaults={"role": role}
        )
        if role == ProjectMember.Role.PI and project.principal_investigator_id != user.pk:
            # One principal investigator: the previous one stays as a member.
            ProjectMember.objects.filter(
                project=project, user_id=project.principal_investigator_id
            ).update(role=ProjectMember.Role.MEMBER)
            project.principal_investigator = user
            project.save(update_fields=["principal_investigator"])
    return member


def remove_member(*, project: Project, by, user) -> None:
    _require_lead(project, by)
    if user.pk == project.principal_investigator_id:
        raise Conflict("The principal investigator cannot be removed; name another one first.")
    ProjectMember.objects.filter(project=project, user=user).delete()


def _require_lead(project: Project, by) -> None:
    require(
        is_hub_admin(by) or (by and by.pk == project.principal_investigator_id),
        "Only the project's principal investigator can change its members.",
    )


# -- access requests ----------------------------------------------------------------------

RS = AccessRequest.State
PS = RequestPart.State
IS = RequestItem.State
FINAL = {RS.APPROVED, RS.PARTIALLY_APPROVED, RS.REJECTED}
ETHICS_APPROVAL_REQUIRED = "DUO:0000021"  # IRB


def create_request(*, by, project: Project, datasets: list, purpose: str = "") -> AccessRequest:
    """A draft request of `project` for `datasets` (each released or published)."""
    require(selectors.is_member(by, project), "Only members of the project request data for it.")
    if not datasets:
        raise ValidationFailed("A request needs at least one dataset.", field="datasets")
    unavailable = [str(d.pk) for d in datasets if d.state not in ("released", "published")]
    if unavailable:
        raise ValidationFailed(
            f"Only released or published datasets can be requested: {', '.join(unavailable)}.",
            field="datasets",
        )
    with transaction.atomic():
        request = AccessRequest.objects.create(project=project, requester=by, purpose=purpose)
        RequestItem.objects.bulk_create(RequestItem(request=request, dataset=d) for d in datasets)
        _event(request, by, "create", "", RS.DRAFT)
    return request


def request_renewal(*, by, entitlement: Entitlement, purpose: str = "") -> AccessRequest:
    """A draft asking the dataset's committee to extend an entitlement; approving it moves
    the entitlement's end date (it goes through the same review as any request)."""
    entitlement = Entitlement.objects.select_related("project", "dataset").get(pk=entitlement.pk)
    if entitlement.state == Entitlement.State.REVOKED:
        raise InvalidTransition(
            "A revoked entitlement cannot be renewed; request the data again.",
            current_state=entitlement.state,
        )
    request = create_request(
        by=by, project=entitlement.project, datasets=[entitlement.dataset], purpose=purpose
    )
    AccessRequest.objects.filter(pk=request.pk).update(renewal_of=entitlement)
    request.renewal_of = entitlement
    return request


def edit_request(*, request: AccessRequest, by, **changes) -> AccessRequest:
    """The requester completes a draft (or a returned request): purpose, DUO terms,
    duration, ethics reference, and which datasets' terms they accept."""
    with transaction.atomic():
        request = _locked(request)
        _require_requester(request, by)
        _require_state(request, {RS.DRAFT, RS.RETURNED}, "edit")
        accepted = changes.pop("terms_accepted", None)
        unknown = set(changes) - EDITABLE
        if unknown:
            raise ValidationFailed(f"Unknown field(s): {', '.join(sorted(unknown))}.")
        if "purpose_duo" in changes:
            changes["purpose_duo"] = _duo_terms(changes["purpose_duo"])
        if "purpose_icd10" in changes:
            changes["purpose_icd10"] = _icd10_codes(changes["purpose_icd10"])
        if "duration_days" in changes and not 1 <= int(changes["duration_days"]) <= 3650:
            raise ValidationFailed("duration_days must be from 1 to 3650.", field="duration_days")
        for name, value in changes.items():
            setattr(request, name, value)
        request.save()
        if accepted is not None:
            request.items.filter(dataset_id__in=list(accepted)).update(terms_accepted=True)
    return request


EDITABLE = {"purpose", "purpose_duo", "purpose_icd10", "duration_days", "ethics_reference"}


def _duo_terms(values) -> list[str]:
    """DUO ids as DUO:0000007, whichever spelling came in; unknown ones are a 400."""
    try:
        return [term.id for term in duo.Duo.load().resolve_all(values)]
    except ValueError as exc:
        raise ValidationFailed(
            f"purpose_duo: {exc} (use DUO identifiers like DUO:0000042).", field="purpose_duo"
        ) from exc


def _icd10_codes(values) -> list[str]:
    try:
        return list(dict.fromkeys(str(duo.Icd10.parse(value)) for value in values))
    except ValueError as exc:
        raise ValidationFailed(f"purpose_icd10: {exc}.", field="purpose_icd10") from exc


def attach_ethics_document(*, request: AccessRequest, by, upload) -> AccessRequest:
    """The ethics committee's approval, as a PDF (checked by its content, not its name)."""
    limit = settings.ETHICS_DOCUMENT_MAX_BYTES
    if upload.size > limit:
        raise PayloadTooLarge(f"The document is larger than {limit // (1024 * 1024)} MiB.")
    head = upload.read(5)
    upload.seek(0)
    if head != b"%PDF-" or (upload.content_type or "") not in ("application/pdf", ""):
        raise ValidationFailed("The ethics approval must be a PDF document.", field="document")
    with transaction.atomic():
        request = _locked(request)
        _require_requester(request, by)
        _require_state(request, {RS.DRAFT, RS.RETURNED}, "attach a document to")
        if request.ethics_document:
            request.ethics_document.delete(save=False)
        request.ethics_document.save(f"request-{request.pk}.pdf", upload, save=True)
        _event(request, by, "document", note="ethics approval attached")
    return request


def submit_request(*, request: AccessRequest, by) -> AccessRequest:
    """Send a draft (or a returned request, again) to the committees: one part per
    organisation; a resubmission reopens only the returned parts."""
    with transaction.atomic():
        request = _locked(request)
        _require_requester(request, by)
        before = _require_state(request, {RS.DRAFT, RS.RETURNED}, "submit")
        if not request.purpose.strip():
            raise ValidationFailed("Say what the data will be used for.", field="purpose")
        if request.items.filter(terms_accepted=False).exists():
            raise ValidationFailed(
                "Accept the licence and terms of every requested dataset first.",
                field="terms_accepted",
            )
        _require_ethics_approval(request)
        for item in request.items.select_related("dataset"):
            if item.part_id is None:
                part, _ = RequestPart.objects.get_or_create(
                    request=request, organisation_id=item.dataset.organisation_id
                )
                item.part = part
                item.save(update_fields=["part"])
        reopened = list(request.parts.filter(state__in=[PS.RETURNED, PS.PENDING]))
        request.parts.filter(state=PS.RETURNED).update(state=PS.PENDING)
        for part in reopened:
            count = part.items.count()
            notices.notify(
                notices.committee_of(part.organisation_id),
                f"Request {request.pk} of project {request.project.code} asks for {count} "
                f"dataset{'s' if count != 1 else ''} of {part.organisation}: please review it.",
                request,
            )
        request.state = RS.SUBMITTED
        request.submitted_at = timezone.now()
        request.save()
        _event(request, by, "resubmit" if before == RS.RETURNED else "submit", before, RS.SUBMITTED)
    return request


def _require_ethics_approval(request: AccessRequest) -> None:
    """Datasets whose data-use terms require ethics approval (DUO:0000021) are requested
    with its reference and the approval itself, so the committee has it in hand."""
    needing = [
        item.dataset.title
        for item in request.items.select_related("dataset")
        if ETHICS_APPROVAL_REQUIRED in item.dataset.duo_terms
    ]
    if needing and not (request.ethics_reference.strip() and request.ethics_document):
        raise ValidationFailed(
            f"{', '.join(sorted(needing))} require{'s' if len(needing) == 1 else ''} ethics "
            "approval (DUO:0000021): give its reference and attach the approval (PDF).",
            field="ethics_document",
        )


def declare_conflict(*, part: RequestPart, by, note: str = "") -> None:
    """A committee member who may not judge this part says so; they can no longer vote."""
    _require_committee(part, by)
    with transaction.atomic():
        ConflictOfInterest.objects.get_or_create(part=part, member=by, defaults={"note": note})
        Vote.objects.filter(part=part, voter=by).delete()
        _event(part.request, by, "conflict", note=note, part=part)


def vote(*, part: RequestPart, by, choice: str, comment: str = "") -> Vote:
    """A committee member's yes / no / abstain on their organisation's part."""
    _require_committee(part, by, judging=True)
    if choice not in Vote.Choice.values:
        raise ValidationFailed(
            f"choice must be one of {', '.join(Vote.Choice.values)}.", field="choice"
        )
    with transaction.atomic():
        part = _locked_part(part)
        request = _locked(part.request)
        _require_part_open(part, request, "vote on")
        cast, _ = Vote.objects.update_or_create(
            part=part, voter=by, defaults={"choice": choice, "comment": comment}
        )
        _start_review(request, part, by)
        _event(request, by, "vote", note=f"{choice}: {comment}".rstrip(": "), part=part)
    return cast


def decide(*, part: RequestPart, by, decisions: dict) -> RequestPart:
    """Record the committee's decision on every dataset of its part.

    `decisions`: {dataset id: {"approve": bool, "conditions": str, "end_date": date,
    "reason": str}}. Under the majority rule only the chair decides, once the quorum has
    voted, and an approval must agree with the vote.
    """
    committee = _require_committee(part, by, judging=True)
    with transaction.atomic():
        part = _locked_part(part)
        request = _locked(part.request)
        _require_part_open(part, request, "decide on")
        if committee.rule == Committee.Rule.MAJORITY:
            require(committee.chair_id == by.pk, "Under the majority rule the chair decides.")
            outcome = _vote_outcome(part, committee)
        else:
            outcome = None
        items = {str(i.dataset_id): i for i in part.items.all()}
        missing = sorted(set(items) - {str(k) for k in decisions})
        if missing:
            raise ValidationFailed(f"Decide on every dataset of the part: {', '.join(missing)}.")
        for key, wanted in decisions.items():
            item = items.get(str(key))
            if item is None:
                raise ValidationFailed(f"Dataset {key} is not in this part of the request.")
            _decide_item(item, wanted, outcome, request)
        part.state = PS.DECIDED
        part.save(update_fields=["state"])
        _event(request, by, "decide", part=part)
        approved = part.items.filter(state=IS.APPROVED).count()
        notices.notify(
            notices.requesters(request),
            f"{part.organisation} decided on request {request.pk}: {approved} of "
            f"{len(items)} dataset{'s' if len(items) != 1 else ''} approved.",
            request,
        )
        _settle(request, by)
    return part


def return_part(*, part: RequestPart, by, note: str) -> AccessRequest:
    """The committee sends its part back for changes; the other parts keep their state."""
    _require_committee(part, by, judging=True)
    if not (note or "").strip():
        raise ValidationFailed("Say what should change.", field="note")
    with transaction.atomic():
        part = _locked_part(part)
        request = _locked(part.request)
        _require_part_open(part, request, "return")
        before = request.state
        part.state = PS.RETURNED
        part.save(update_fields=["state"])
        part.votes.all().delete()  # a changed request is voted on afresh
        request.state = RS.RETURNED
        request.save(update_fields=["state"])
        _event(request, by, "return", before, RS.RETURNED, note=note, part=part)
        notices.notify(
            notices.requesters(request),
            f"{part.organisation} returned request {request.pk} for changes: {note}",
            request,
        )
    return request


def close_request(*, request: AccessRequest, by) -> AccessRequest:
    """The requester (or an administrator) closes a decided request, or withdraws a draft
    or returned one; entitlements already granted stay."""
    with transaction.atomic():
        request = _locked(request)
        require(
            is_hub_admin(by) or request.requester_id == by.pk,
            "Only the requester closes the request.",
        )
        before = _require_state(request, {RS.DRAFT, RS.RETURNED, *FINAL}, "close")
        request.state = RS.CLOSED
        request.save(update_fields=["state"])
        _event(request, by, "close", before, RS.CLOSED)
    return request


def post_message(*, part: RequestPart, by, text: str) -> Message:
    """A question from the part's committee, or an answer from the project, in the part's
    thread; the other side is told."""
    text = (text or "").strip()
    if not text:
        raise ValidationFailed("The message is empty.", field="text")
    request = part.request
    from_committee = part.organisation_id in organisation_ids_with_role(by, Role.COMMITTEE_MEMBER)
    from_project = selectors.is_member(by, request.project)
    require(
        from_committee or from_project,
        "Only the part's committee and the project's members write in its thread.",
    )
    if request.state in (RS.DRAFT, RS.CLOSED):
        raise InvalidTransition(
            f"Cannot write about a request that is {request.state}.", current_state=request.state
        )
    with transaction.atomic():
        message = Message.objects.create(part=part, author=by, text=text)
        _event(request, by, "message", part=part)
        if from_committee:
            readers = notices.requesters(request)
            words = f"{part.organisation} asks about request {request.pk}: {text}"
        else:
            readers = notices.committee_of(part.organisation_id)
            words = f"Project {request.project.code} wrote about request {request.pk}: {text}"
        notices.notify([u for u in readers if u.pk != by.pk], words, request)
    return message


def revoke_entitlement(*, entitlement: Entitlement, by, reason: str) -> Entitlement:
    """The dataset's committee ends a project's access before its end date."""
    organisation_id = entitlement.dataset.organisation_id
    require(
        is_hub_admin(by)
        or organisation_id in organisation_ids_with_role(by, Role.COMMITTEE_MEMBER),
        "Only the dataset's committee revokes access to it.",
    )
    if not (reason or "").strip():
        raise ValidationFailed("Say why access ends.", field="reason")
    with transaction.atomic():
        entitlement = Entitlement.objects.select_for_update().get(pk=entitlement.pk)
        if entitlement.state != Entitlement.State.ACTIVE:
            raise InvalidTransition(
                f"Cannot revoke an entitlement that is {entitlement.state}.",
                current_state=entitlement.state,
            )
        entitlement.state = Entitlement.State.REVOKED
        entitlement.ended_reason = reason
        entitlement.ended_at = timezone.now()
        entitlement.save()
        _event(entitlement.item.request, by, "revoke", note=reason, part=entitlement.item.part)
        notices.notify(
            [m["user"] for m in selectors.members(entitlement.project)],
            f"Project {entitlement.project.code} no longer has access to "
            f"“{entitlement.dataset.title}”: {reason}",
            entitlement.item.request,
        )
    return entitlement


def expire_entitlements(today=None) -> int:
    """End every active entitlement past its end date (the periodic task)."""
    today = today or timezone.localdate()
    ended = 0
    due = Entitlement.objects.filter(state=Entitlement.State.ACTIVE, end__lt=today)
    for entitlement in due.select_related("project", "dataset", "item__request"):
        with transaction.atomic():
            changed = Entitlement.objects.filter(
                pk=entitlement.pk, state=Entitlement.State.ACTIVE
            ).update(
                state=Entitlement.State.EXPIRED,
                ended_reason="end date reached",
                ended_at=timezone.now(),
            )
            if changed:
                ended += 1
                notices.notify(
                    [m["user"] for m in selectors.members(entitlement.project)],
                    f"Project {entitlement.project.code}'s access to “{entitlement.dataset.title}” "
                    f"ended on {entitlement.end:%d %b %Y}.",
                    entitlement.item.request,
                )
    return ended


# -- internals ----------------------------------------------------------------------------


def _locked(request: AccessRequest) -> AccessRequest:
    return (
        AccessRequest.objects.select_for_update(of=("self",))
        .select_related("project", "renewal_of")
        .get(pk=request.pk)
    )


def _locked_part(part: RequestPart) -> RequestPart:
    return RequestPart.objects.select_for_update().get(pk=part.pk)


def _require_state(request: AccessRequest, allowed: set, verb: str) -> str:
    if request.state not in allowed:
        raise InvalidTransition(
            f"Cannot {verb} a request that is {request.state}.", current_state=request.state
        )
    return request.state


def _require_requester(request: AccessRequest, by) -> None:
    require(
        by is not None and (request.requester_id == by.pk or is_hub_admin(by)),
        "Only the requester changes the request.",
    )


def _require_committee(part: RequestPart, by, *, judging: bool = False) -> Committee:
    require(
        by is not None
        and part.organisation_id in organisation_ids_with_role(by, Role.COMMITTEE_MEMBER),
        "Only the committee of this part's organisation acts on it.",
    )
    if judging:
        require(
            not selectors.is_member(by, part.request.project),
            "Nobody votes or decides on a request of their own project.",
        )
        require(
            not part.conflicts.filter(member=by).exists(),
            "You declared a conflict of interest on this request.",
        )
    committee, _ = Committee.objects.get_or_create(organisation_id=part.organisation_id)
    return committee


def _require_part_open(part: RequestPart, request: AccessRequest, verb: str) -> None:
    if request.state not in (RS.SUBMITTED, RS.UNDER_REVIEW) or part.state not in (
        PS.PENDING,
        PS.UNDER_REVIEW,
    ):
        state = (
            request.state if request.state not in (RS.SUBMITTED, RS.UNDER_REVIEW) else part.state
        )
        raise InvalidTransition(f"Cannot {verb} this part: it is {state}.", current_state=state)


def _start_review(request: AccessRequest, part: RequestPart, by) -> None:
    if part.state == PS.PENDING:
        part.state = PS.UNDER_REVIEW
        part.save(update_fields=["state"])
    if request.state == RS.SUBMITTED:
        request.state = RS.UNDER_REVIEW
        request.save(update_fields=["state"])
        _event(request, by, "review", RS.SUBMITTED, RS.UNDER_REVIEW)


def _vote_outcome(part: RequestPart, committee: Committee) -> bool:
    """True for approval: the quorum voted yes or no, and yes has the majority."""
    votes = list(part.votes.exclude(choice=Vote.Choice.ABSTAIN).values_list("choice", flat=True))
    if len(votes) < committee.quorum:
        raise InvalidTransition(
            f"The quorum is {committee.quorum} votes; {len(votes)} cast so far.",
            current_state=part.state,
        )
    return votes.count(Vote.Choice.YES) > votes.count(Vote.Choice.NO)


def _decide_item(item: RequestItem, wanted: dict, outcome: bool | None, request) -> None:
    approve = bool(wanted.get("approve"))
    if outcome is not None and approve != outcome:
        raise ValidationFailed(
            "The decision must agree with the vote: the majority voted "
            + ("yes." if outcome else "no.")
        )
    if approve:
        end = wanted.get("end_date")
        if end is None or end <= timezone.localdate():
            raise ValidationFailed("An approval needs an end date in the future.", field="end_date")
        item.state, item.end_date = IS.APPROVED, end
        item.conditions = (wanted.get("conditions") or "").strip()
        item.save()
        renewed = request.renewal_of
        if renewed is not None and renewed.dataset_id == item.dataset_id:
            # The same entitlement goes on: a new end, the conditions of this approval.
            renewed.end, renewed.conditions = max(renewed.end, end), item.conditions
            renewed.state, renewed.ended_reason, renewed.ended_at = (
                Entitlement.State.ACTIVE,
                "",
                None,
            )
            renewed.save()
            return
        Entitlement.objects.create(
            project=request.project,
            dataset=item.dataset,
            item=item,
            start=timezone.localdate(),
            end=end,
            conditions=item.conditions,
        )
    else:
        reason = (wanted.get("reason") or "").strip()
        if not reason:
            raise ValidationFailed("A rejection needs a reason.", field="reason")
        item.state, item.reason = IS.REJECTED, reason
        item.save()


def _settle(request: AccessRequest, by) -> None:
    """Once every part is decided, the request is approved, partially approved or rejected."""
    if request.parts.exclude(state=PS.DECIDED).exists():
        return
    states = set(request.items.values_list("state", flat=True))
    before = request.state
    if states == {IS.APPROVED}:
        request.state = RS.APPROVED
    elif states == {IS.REJECTED}:
        request.state = RS.REJECTED
    else:
        request.state = RS.PARTIALLY_APPROVED
    request.decided_at = timezone.now()
    request.save(update_fields=["state", "decided_at"])
    _event(request, by, "settle", before, request.state)
    members = [m["user"] for m in selectors.members(request.project)]
    notices.notify(
        members,
        f"Request {request.pk} of project {request.project.code} is {request.get_state_display().lower()}.",
        request,
    )


def _event(request, actor, action, from_state="", to_state="", note="", part=None) -> None:
    RequestEvent.objects.create(
        request=request,
        part=part,
        actor=actor,
        action=action,
        from_state=from_state,
        to_state=to_state,
        note=note,
    )
