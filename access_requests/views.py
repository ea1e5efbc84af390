"""The access-request pages: the basket, projects, "my requests" with each request's
timeline, the committee inbox and the decision page.

Thin, as everywhere: reads go through `selectors`, changes through `services`, so a page
and the API cannot disagree on who may do what. What the user may not see is a 404
(selectors); what they may not do is a 403 (services). A refused action on a button (a
409 when someone else decided first, a 400 for a missing reason) comes back as a message
on the page it was made from; a refused form is shown again in place with its errors.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from catalogue import selectors as catalogue
from hub.errors import Conflict, InvalidTransition, NotFound, ValidationFailed, require
from hub.models import Organisation
from hub.roles import is_hub_admin

from . import notices as notices_module
from . import selectors, services
from .forms import (
    CommaList,
    MemberForm,
    MessageForm,
    NoteForm,
    ProjectForm,
    ReasonForm,
    RequestForm,
    VoteForm,
)
from .models import AccessRequest, Committee, RequestItem, RequestPart

BASKET = "basket"
BASKET_MAX = 100
RS = AccessRequest.State
PS = RequestPart.State
# What a refused button says on the page (the rest, 403 and 404, are error pages).
SHOWN_IN_PLACE = (ValidationFailed, InvalidTransition, Conflict)

REQUEST_BADGES = {
    RS.DRAFT: "badge--draft",
    RS.SUBMITTED: "badge--released",
    RS.UNDER_REVIEW: "badge--released",
    RS.APPROVED: "badge--published",
    RS.PARTIALLY_APPROVED: "badge--restricted",
    RS.REJECTED: "badge--invalidated",
    RS.RETURNED: "badge--restricted",
    RS.CLOSED: "badge--draft",
}
PART_BADGES = {
    PS.PENDING: "badge--released",
    PS.UNDER_REVIEW: "badge--released",
    PS.DECIDED: "badge--published",
    PS.RETURNED: "badge--restricted",
}
ITEM_BADGES = {
    RequestItem.State.PENDING: "badge--draft",
    RequestItem.State.APPROVED: "badge--published",
    RequestItem.State.REJECTED: "badge--invalidated",
}
VERDICTS = {
    "match": ("Matches the purpose", "badge--published"),
    "no_match": ("Does not match the purpose", "badge--invalidated"),
    "needs_review": ("Needs the committee's review", "badge--restricted"),
}
EVENT_WORDS = {
    "create": "created the request",
    "document": "attached the ethics approval",
    "submit": "submitted the request",
    "resubmit": "submitted the request again",
    "review": "review started",
    "vote": "voted",
    "conflict": "declared a conflict of interest",
    "decide": "recorded the decision",
    "return": "returned it for changes",
    "settle": "the request was settled",
    "close": "closed the request",
    "message": "wrote in the thread",
    "revoke": "revoked access",
    "expire": "access expired",
}


def _back(request: HttpRequest, fallback: str) -> HttpResponse:
    """To the page the form was on (a local `next`), else `fallback`."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return redirect(target)
    return redirect(fallback)


def _refused(request: HttpRequest, error: Exception) -> None:
    messages.error(request, getattr(error, "message", str(error)))


def _with_verdicts(access_request: AccessRequest, items) -> list:
    items = list(items)
    matches = selectors.item_matches(access_request, items)
    for item in items:
        item.match = matches[item.pk]
        item.verdict_text, item.verdict_badge = VERDICTS[item.match.verdict]
        item.badge = ITEM_BADGES[item.state]
    return items


def _timeline(events) -> list:
    events = list(events)
    for event in events:
        event.words = EVENT_WORDS.get(event.action, event.action)
    return events


# -- the basket -----------------------------------------------------------------------------


def basket_ids(request: HttpRequest) -> list[str]:
    return list(request.session.get(BASKET, []))


def _basket_datasets(request: HttpRequest) -> list:
    ids = basket_ids(request)
    found = {
        str(d.pk): d
        for d in catalogue.visible_datasets(request.user)
        .filter(pk__in=ids)
        .select_related("organisation")
    }
    return [found[i] for i in ids if i in found]


@login_required
@require_POST
def basket_add(request: HttpRequest) -> HttpResponse:
    dataset = catalogue.dataset_for(request.user, request.POST.get("dataset", ""))
    ids = basket_ids(request)
    if str(dataset.pk) in ids:
        messages.info(request, f"“{dataset.title}” is already in your basket.")
    elif len(ids) >= BASKET_MAX:
        messages.error(request, f"A basket holds at most {BASKET_MAX} datasets.")
    elif dataset.state not in ("released", "published"):
        messages.error(request, "Only released or published datasets can be requested.")
    else:
        request.session[BASKET] = [*ids, str(dataset.pk)]
        messages.success(request, f"Added “{dataset.title}” to your basket.")
    return _back(request, reverse("access_requests:basket"))


@login_required
@require_POST
def basket_remove(request: HttpRequest) -> HttpResponse:
    gone = request.POST.get("dataset", "")
    request.session[BASKET] = [i for i in basket_ids(request) if i != gone]
    return _back(request, reverse("access_requests:basket"))


@dataclass
class _Purpose:
    """A purpose not yet saved, to show verdicts while the request is being written."""

    purpose_duo: list
    purpose_icd10: list

    @classmethod
    def posted(cls, post) -> _Purpose:
        return cls(post.getlist("purpose_duo"), CommaList().to_python(post.get("purpose_icd10")))


def _basket_rows(datasets, purpose) -> list:
    rows = []
    for dataset in datasets:
        match = selectors.duo_match(dataset, purpose.purpose_duo, purpose.purpose_icd10)
        text, badge = VERDICTS[match.verdict]
        rows.append({"dataset": dataset, "match": match, "text": text, "badge": badge})
    return rows


def _as_initial(post) -> dict:
    """What was typed, to show again without judging it (checking the purpose only)."""
    return {key: post.getlist(key) if key == "purpose_duo" else post.get(key) for key in post}


@login_required
def basket(request: HttpRequest) -> HttpResponse:
    datasets = _basket_datasets(request)
    projects = list(selectors.projects_of(request.user))
    posted = request.method == "POST"
    action = request.POST.get("action", "check")
    status = 200
    if posted and action == "check":
        form = RequestForm(initial=_as_initial(request.POST), datasets=datasets, projects=projects)
    else:
        form = RequestForm(
            request.POST or None, request.FILES or None, datasets=datasets, projects=projects
        )
    if posted and action in ("draft", "submit"):
        if form.is_valid():
            try:
                access_request = _create_from_basket(request, form, datasets, action == "submit")
            except SHOWN_IN_PLACE as error:
                form.add_error(_field_for(error), error.message)
                status = 400
            else:
                request.session[BASKET] = []
                done = "submitted to the committees" if action == "submit" else "saved as a draft"
                messages.success(request, f"Request {access_request.pk} {done}.")
                return redirect("access_requests:request", access_request.pk)
        else:
            status = 400
    purpose = _Purpose.posted(request.POST) if posted else _Purpose([], [])
    context = {
        "form": form,
        "rows": _basket_rows(datasets, purpose),
        "projects": projects,
        "accepted": set(request.POST.getlist("accepted")),
        "checked": posted,
    }
    return render(request, "access_requests/basket.html", context, status=status)


def _field_for(error: Exception) -> str | None:
    field = getattr(error, "details", {}).get("field")
    return field if field in RequestForm.base_fields or field == "project" else None


def _create_from_basket(request: HttpRequest, form: RequestForm, datasets, submit: bool):
    """One draft for the chosen project with everything the form says, submitted if asked;
    nothing is kept when any step is refused (the document is removed again)."""
    if not datasets:
        raise ValidationFailed("Your basket is empty: add datasets from the search first.")
    project = selectors.get_project(request.user, form.cleaned_data["project"])
    access_request = None
    try:
        with transaction.atomic():
            access_request = services.create_request(
                by=request.user, project=project, datasets=datasets
            )
            _complete(request, form, access_request, submit)
    except Exception:
        if access_request is not None and access_request.ethics_document:
            access_request.ethics_document.delete(save=False)
        raise
    return access_request


def _complete(request: HttpRequest, form: RequestForm, access_request, submit: bool) -> None:
    services.edit_request(
        request=access_request,
        by=request.user,
        terms_accepted=form.cleaned_data["accepted"],
        **form.changes(),
    )
    upload = form.cleaned_data.get("ethics_document")
    if upload:
        services.attach_ethics_document(request=access_request, by=request.user, upload=upload)
    if submit:
        services.submit_request(request=access_request, by=request.user)


# -- projects -------------------------------------------------------------------------------


@login_required
def project_list(request: HttpRequest) -> HttpResponse:
    form = ProjectForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            project = services.create_project(by=request.user, **form.cleaned_data)
        except ValidationFailed as error:
            form.add_error(error.details.get("field") or None, error.message)
        else:
            messages.success(request, f"Project {project.code} created; you lead it.")
            return redirect("access_requests:project", project.code)
    context = {"projects": selectors.projects_of(request.user), "form": form}
    return render(
        request,
        "access_requests/project_list.html",
        context,
        status=400 if form.errors else 200,
    )


@login_required
def project_detail(request: HttpRequest, code: str) -> HttpResponse:
    project = selectors.get_project(request.user, code)
    today = timezone.localdate()
    entitlements = list(
        project.entitlements.select_related("dataset__organisation").order_by("state", "end")
    )
    for entitlement in entitlements:
        entitlement.in_force = entitlement.state == "active" and entitlement.start <= today
    context = {
        "project": project,
        "members": selectors.members(project),
        "is_lead": request.user.pk == project.principal_investigator_id,
        "entitlements": entitlements,
        "requests": _badged(project.requests.select_related("requester")),
        "member_form": MemberForm(),
    }
    return render(request, "access_requests/project_detail.html", context)


@login_required
@require_POST
def project_member_add(request: HttpRequest, code: str) -> HttpResponse:
    project = selectors.get_project(request.user, code)
    form = MemberForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Give the username of the member and their role.")
    else:
        try:
            user = selectors.user_by_username(form.cleaned_data["username"])
            services.add_member(
                project=project, by=request.user, user=user, role=form.cleaned_data["role"]
            )
        except (*SHOWN_IN_PLACE, NotFound) as error:
            _refused(request, error)
        else:
            messages.success(request, f"{user.username} is now in {project.code}.")
    return redirect("access_requests:project", project.code)


@login_required
@require_POST
def project_member_remove(request: HttpRequest, code: str, username: str) -> HttpResponse:
    project = selectors.get_project(request.user, code)
    user = selectors.user_by_username(username)
    try:
        services.remove_member(project=project, by=request.user, user=user)
    except SHOWN_IN_PLACE as error:
        _refused(request, error)
    else:
        messages.success(request, f"{username} left {project.code}.")
    return redirect("access_requests:project", project.code)


# -- my requests ----------------------------------------------------------------------------


def _badged(requests):
    requests = list(requests)
    for access_request in requests:
        access_request.badge = REQUEST_BADGES[access_request.state]
    return requests


@login_required
def request_list(request: HttpRequest) -> HttpResponse:
    """The requests of the user's projects, by state."""
    mine = selectors.visible_requests(request.user).filter(
        project__in=selectors.projects_of(request.user)
    )
    counts = Counter(mine.values_list("state", flat=True))
    state = request.GET.get("state", "")
    if state and state not in RS.values:
        raise ValidationFailed(f"state must be one of {', '.join(RS.values)}.", field="state")
    shown = mine.filter(state=state) if state else mine
    context = {
        "requests": _badged(shown.prefetch_related("items")),
        "state": state,
        "tabs": [("", "All", sum(counts.values()))]
        + [(value, label, counts[value]) for value, label in RS.choices if counts[value]],
    }
    return render(request, "access_requests/request_list.html", context)


@login_required
def request_detail(request: HttpRequest, pk: int) -> HttpResponse:
    access_request = selectors.get_request(request.user, pk, detailed=True)
    viewer = selectors.viewer(request.user)
    is_member = viewer.is_member(access_request)
    parts = viewer.parts_of(access_request)
    if not is_member and parts:
        # A committee member works on the decision page of their part.
        return redirect("access_requests:decision", pk, parts[0].organisation.slug)
    for part in parts:
        part.badge = PART_BADGES[part.state]
        part.shown_items = _with_verdicts(access_request, part.items.all())
    access_request.badge = REQUEST_BADGES[access_request.state]
    is_requester = access_request.requester_id == request.user.pk
    context = {
        "req": access_request,
        "parts": parts,
        "unrouted": _with_verdicts(
            access_request, [i for i in access_request.items.all() if i.part_id is None]
        ),
        "timeline": _timeline(access_request.events.all()),
        "can_edit": is_requester and access_request.state in (RS.DRAFT, RS.RETURNED),
        "can_close": is_requester
        and access_request.state in (RS.DRAFT, RS.RETURNED, *services.FINAL),
        "can_write": is_member and access_request.state not in (RS.DRAFT, RS.CLOSED),
        "message_form": MessageForm(),
    }
    return render(request, "access_requests/request_detail.html", context)


@login_required
def request_edit(request: HttpRequest, pk: int) -> HttpResponse:
    access_request = selectors.get_request(request.user, pk)
    # The form lists every dataset of the request: for its requester only, not for a
    # committee that sees its own part.
    require(
        access_request.requester_id == request.user.pk or is_hub_admin(request.user),
        "Only the requester edits the request.",
    )
    items = list(access_request.items.select_related("dataset__organisation"))
    datasets = [item.dataset for item in items]
    initial = {
        "purpose": access_request.purpose,
        "purpose_duo": access_request.purpose_duo,
        "purpose_icd10": access_request.purpose_icd10,
        "duration_days": access_request.duration_days,
        "ethics_reference": access_request.ethics_reference,
    }
    form = RequestForm(
        request.POST or None, request.FILES or None, datasets=datasets, initial=initial
    )
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                with transaction.atomic():
                    _complete(request, form, access_request, request.POST.get("action") == "submit")
            except SHOWN_IN_PLACE as error:
                form.add_error(_field_for(error), error.message)
                status = 400
            else:
                messages.success(request, f"Request {access_request.pk} saved.")
                return redirect("access_requests:request", access_request.pk)
        else:
            status = 400
    accepted = (
        set(request.POST.getlist("accepted"))
        if request.method == "POST"
        else {str(i.dataset_id) for i in items if i.terms_accepted}
    )
    purpose = _Purpose.posted(request.POST) if request.method == "POST" else access_request
    context = {
        "req": access_request,
        "form": form,
        "rows": _basket_rows(datasets, purpose),
        "accepted": accepted,
    }
    return render(request, "access_requests/request_edit.html", context, status=status)


def _requester_action(service, done: str):
    @login_required
    @require_POST
    def view(request: HttpRequest, pk: int) -> HttpResponse:
        access_request = selectors.get_request(request.user, pk)
        try:
            service(request=access_request, by=request.user)
        except SHOWN_IN_PLACE as error:
            _refused(request, error)
        else:
            messages.success(request, f"Request {pk} {done}.")
        return redirect("access_requests:request", pk)

    return view


request_submit = _requester_action(services.submit_request, "submitted to the committees")
request_close = _requester_action(services.close_request, "closed")


@login_required
@require_POST
def part_message(request: HttpRequest, pk: int, organisation: str) -> HttpResponse:
    access_request = selectors.get_request(request.user, pk)
    part = selectors.get_part(request.user, access_request, organisation)
    form = MessageForm(request.POST)
    if not form.is_valid():
        messages.error(request, "The message is empty.")
    else:
        try:
            services.post_message(part=part, by=request.user, text=form.cleaned_data["text"])
        except SHOWN_IN_PLACE as error:
            _refused(request, error)
        else:
            messages.success(request, f"Message sent to {part.organisation}.")
    return _back(request, reverse("access_requests:request", args=[pk]))


# -- the committee --------------------------------------------------------------------------


@login_required
def inbox(request: HttpRequest) -> HttpResponse:
    """The parts the user's committees decide, with counts by state and filters."""
    organisations = selectors.committee_organisation_ids(request.user)
    require(organisations, "Only members of a data access committee have an inbox.")
    every = selectors.committee_parts(request.user)
    organisation = request.GET.get("organisation", "")
    if organisation:
        every = every.filter(organisation__slug=organisation)
    counts = Counter(every.values_list("state", flat=True))
    waiting = selectors.awaiting_vote(every, request.user)
    state = request.GET.get("state", "open")
    if state == "mine":
        shown = waiting
    elif state == "open":
        shown = every.filter(state__in=selectors.OPEN_PART_STATES)
    elif state in PS.values:
        shown = every.filter(state=state)
    elif state == "all":
        shown = every
    else:
        raise ValidationFailed(
            f"state must be open, mine, all or one of {', '.join(PS.values)}.", field="state"
        )
    parts = list(shown[:200])
    for part in parts:
        part.badge = PART_BADGES[part.state]
    tabs = [
        ("open", "Open", counts[PS.PENDING] + counts[PS.UNDER_REVIEW]),
        ("mine", "Waiting for my vote", waiting.count()),
        *[(value, label, counts[value]) for value, label in PS.choices],
        ("all", "All", sum(counts.values())),
    ]
    context = {
        "parts": parts,
        "tabs": tabs,
        "state": state,
        "organisation": organisation,
        "organisations": _organisations(request.user),
    }
    return render(request, "access_requests/inbox.html", context)


def _organisations(user) -> list:
    return list(
        Organisation.objects.filter(pk__in=selectors.committee_organisation_ids(user)).order_by(
            "name"
        )
    )


@login_required
def decision(request: HttpRequest, pk: int, organisation: str) -> HttpResponse:
    access_request = selectors.get_request(request.user, pk)
    part = selectors.get_part(request.user, access_request, organisation)
    committee = selectors.committee_for(part.organisation_id)
    on_committee = part.organisation_id in selectors.committee_organisation_ids(request.user)
    require(
        on_committee or is_hub_admin(request.user),
        "The decision page is for the committee; the request's own page shows where it stands.",
    )
    own_project = selectors.is_member(request.user, access_request.project)
    conflicted = part.conflicts.filter(member=request.user).exists()
    is_open = access_request.state in (RS.SUBMITTED, RS.UNDER_REVIEW) and part.state in (
        selectors.OPEN_PART_STATES
    )
    may_judge = on_committee and not own_project and not conflicted and is_open
    tally = selectors.tally(part, committee)
    chair_decides = committee.rule == Committee.Rule.MAJORITY
    my_vote = next((v for v in part.votes.all() if v.voter_id == request.user.pk), None)
    access_request.badge = REQUEST_BADGES[access_request.state]
    part.badge = PART_BADGES[part.state]
    entitlements = list(selectors.part_entitlements(part))
    context = {
        "req": access_request,
        "part": part,
        "committee": committee,
        "items": _with_verdicts(access_request, part.items.all()),
        "tally": tally,
        "votes": part.votes.all(),
        "conflicts": part.conflicts.select_related("member"),
        "messages_thread": part.messages.all(),
        "timeline": _timeline(selectors.part_events(part)),
        "on_committee": on_committee,
        "own_project": own_project,
        "conflicted": conflicted,
        "is_open": is_open,
        "may_vote": may_judge,
        "may_decide": may_judge
        and (not chair_decides or committee.chair_id == request.user.pk)
        and tally.quorum_reached,
        "chair_decides": chair_decides,
        "my_vote": my_vote,
        "vote_form": VoteForm(initial={"choice": my_vote.choice} if my_vote else None),
        "entitlements": entitlements,
        "default_end": _default_end(access_request),
        "can_write": on_committee and access_request.state not in (RS.DRAFT, RS.CLOSED),
        "members": selectors.members(access_request.project),
    }
    return render(request, "access_requests/decision.html", context)


def _default_end(access_request: AccessRequest) -> date:
    return timezone.localdate() + timezone.timedelta(days=access_request.duration_days)


def _decisions(post, part: RequestPart) -> dict:
    """The decide form's fields (decision-<dataset>, conditions-, end_date-, reason-) as
    the service takes them."""
    decisions = {}
    for item in part.items.all():
        key = str(item.dataset_id)
        choice = post.get(f"decision-{key}", "")
        if choice not in ("approve", "reject"):
            raise ValidationFailed(f"Approve or reject “{item.dataset.title}”.")
        raw_end = post.get(f"end_date-{key}", "").strip()
        try:
            end = parse_date(raw_end) if raw_end else None
        except ValueError:  # well formed but no such day: 2026-02-30
            end = None
        if raw_end and end is None:
            raise ValidationFailed(f"The end date of “{item.dataset.title}” is not a date.")
        decisions[key] = {
            "approve": choice == "approve",
            "conditions": post.get(f"conditions-{key}", ""),
            "end_date": end,
            "reason": post.get(f"reason-{key}", ""),
        }
    return decisions


@login_required
@require_POST
def decision_action(request: HttpRequest, pk: int, organisation: str, action: str) -> HttpResponse:
    access_request = selectors.get_request(request.user, pk)
    part = selectors.get_part(request.user, access_request, organisation)
    done = {
        "vote": "Your vote is recorded.",
        "conflict": "Your conflict of interest is recorded; you no longer vote on this part.",
        "decide": "The decision is recorded and the requesters are told.",
        "return": "The part went back to the requesters for changes.",
        "message": "Your message is in the thread.",
    }
    if action not in done:
        raise NotFound(f"No action {action}.")
    try:
        if action == "vote":
            form = VoteForm(request.POST)
            if not form.is_valid():
                raise ValidationFailed("Choose yes, no or abstain.", field="choice")
            services.vote(part=part, by=request.user, **form.cleaned_data)
        elif action == "decide":
            services.decide(part=part, by=request.user, decisions=_decisions(request.POST, part))
        elif action == "message":
            services.post_message(part=part, by=request.user, text=request.POST.get("text", ""))
        else:
            note = NoteForm(request.POST)
            note.is_valid()
            verb = services.return_part if action == "return" else services.declare_conflict
            verb(part=part, by=request.user, note=note.cleaned_data.get("note", ""))
    except SHOWN_IN_PLACE as error:
        _refused(request, error)
    else:
        messages.success(request, done[action])
    return redirect("access_requests:decision", pk, organisation)


# -- entitlements ---------------------------------------------------------------------------


@login_required
@require_POST
def entitlement_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    entitlement = selectors.get_entitlement(request.user, pk)
    form = ReasonForm(request.POST)
    try:
        if not form.is_valid():
            raise ValidationFailed("Say why access ends.", field="reason")
        services.revoke_entitlement(
            entitlement=entitlement, by=request.user, reason=form.cleaned_data["reason"]
        )
    except SHOWN_IN_PLACE as error:
        _refused(request, error)
    else:
        messages.success(
            request, f"Project {entitlement.project.code} no longer has access to the dataset."
        )
    return _back(request, reverse("access_requests:inbox"))


@login_required
@require_POST
def entitlement_renew(request: HttpRequest, pk: int) -> HttpResponse:
    entitlement = selectors.get_entitlement(request.user, pk)
    try:
        renewal = services.request_renewal(
            by=request.user,
            entitlement=entitlement,
            purpose=entitlement.item.request.purpose,
        )
    except SHOWN_IN_PLACE as error:
        _refused(request, error)
        return redirect("access_requests:project", entitlement.project.code)
    messages.success(request, "A renewal request is ready: complete it and submit it.")
    return redirect("access_requests:request-edit", renewal.pk)


# -- notices --------------------------------------------------------------------------------


@login_required
def notice_list(request: HttpRequest) -> HttpResponse:
    notices = request.user.notices.select_related("request")
    if request.method == "POST":
        notices_module.mark_read(request.user)
        messages.success(request, "All notices are marked as read.")
        return redirect("access_requests:notices")
    return render(request, "access_requests/notice_list.html", {"notices": notices[:200]})
