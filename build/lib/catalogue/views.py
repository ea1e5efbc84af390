"""The catalogue's web pages: search, a dataset, its form and its lifecycle buttons.

Thin, as everywhere: reads go through `selectors`, changes through `services`.
Domain errors raised here propagate to hub.errors.DomainErrorMiddleware, which
renders them with their status (410 becomes the tombstone); only the search
page and the form catch them, to show the problem in place.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse

from hub import charts, paging
from hub.errors import DomainError, NotAllowed, ValidationFailed, require
from hub.models import Organisation
from hub.roles import can_manage_organisation, provider_organisations
from hyperontology.duo import DISEASE_SPECIFIC

from . import selectors, services
from .facets import SEXES, VALUE_FACETS, age_rows
from .forms import FROZEN_NOTE, DatasetForm
from .models import AccessRights, Dataset
from .search import (
    FILTER_PARAMS,
    MAX_QUERY_LENGTH,
    SearchParams,
    is_disease_specific,
    parse_search,
    purpose_choices,
)
from .templatetags.catalogue_tags import duo_label, modality_name

State = Dataset.State

SORT_LABELS = {
    "relevance": "Relevance",
    "title": "Title, A to Z",
    "-title": "Title, Z to A",
    "-modified": "Recently updated",
    "modified": "Least recently updated",
    "-subjects": "Most subjects",
    "subjects": "Fewest subjects",
}
FACET_VALUES_SHOWN = 8


@dataclass
class FacetOption:
    value: str
    label: str
    count: int
    checked: bool
    hint: str = ""


@dataclass
class FacetGroup:
    param: str
    label: str
    options: list[FacetOption] = field(default_factory=list)

    @property
    def shown(self) -> list[FacetOption]:
        return self.options[: max(FACET_VALUES_SHOWN, sum(o.checked for o in self.options))]

    @property
    def more(self) -> list[FacetOption]:
        return self.options[len(self.shown) :]


@dataclass
class ActiveFilter:
    label: str
    remove_url: str


def _query(params: SearchParams, **changes) -> QueryDict:
    """The canonical query string of a search, with some parameters changed (None drops one)."""
    values: dict[str, list[str]] = {}
    if params.text:
        values["q"] = [params.text]
    for param, facet in FILTER_PARAMS.items():
        if params.filters.get(facet):
            values[param] = list(params.filters[facet])
    if params.purpose:
        values["purpose"] = list(params.purpose)
    if params.purpose_diseases:
        values["purpose_disease"] = [",".join(params.purpose_diseases)]
    for name in ("age_min", "age_max", "min_subjects"):
        if getattr(params, name) is not None and getattr(params, name) != 0:
            values[name] = [str(getattr(params, name))]
    default_sort = "relevance" if params.text else "title"
    if params.sort and params.sort != default_sort:
        values["sort"] = [params.sort]
    if params.page_size != settings.CATALOGUE_PAGE_SIZE:
        values["page_size"] = [str(params.page_size)]
    if params.page > 1:
        values["page"] = [str(params.page)]
    for name, value in changes.items():
        if value is None:
            values.pop(name, None)
        else:
            values[name] = value if isinstance(value, list) else [str(value)]
    query = QueryDict(mutable=True)
    for name, items in values.items():
        query.setlist(name, items)
    return query


def _url(request: HttpRequest, query: QueryDict) -> str:
    encoded = query.urlencode()
    return request.path + ("?" + encoded if encoded else "")


def _value_labels(facets: dict) -> dict[str, dict[str, tuple[str, str]]]:
    """Facet value -> (label, hint) for values whose stored form is a code."""
    slugs = {c.value for c in facets.get("provider", [])}
    names = dict(Organisation.objects.filter(slug__in=slugs).values_list("slug", "name"))
    rights = dict(AccessRights.choices)
    return {
        "provider": {slug: (names.get(slug, slug), "") for slug in slugs},
        "access_rights": {v: (label, "") for v, label in rights.items()},
        "sex": {s: (s.capitalize(), "") for s in SEXES},
        "duo": {c.value: (duo_label(c.value), c.value) for c in facets.get("duo", [])},
        "modality": {
            c.value: (c.value, modality_name(c.value)) for c in facets.get("modality", [])
        },
    }


def _facet_groups(params: SearchParams, facets: dict) -> list[FacetGroup]:
    labels = _value_labels(facets)
    groups = []
    for param, facet in FILTER_PARAMS.items():
        selected = params.filters.get(facet, [])
        counts = {c.value: c.count for c in facets.get(facet, [])}
        for value in selected:
            counts.setdefault(value, 0)
        named = labels.get(facet, {})
        options = []
        for value, n in counts.items():
            label, hint = named.get(value, (value, ""))
            options.append(FacetOption(value, label, n, value in selected, hint))
        options.sort(key=lambda o: (not o.checked, -o.count, o.label))
        groups.append(FacetGroup(param, VALUE_FACETS[facet], options))
    return groups


def _active_filters(request, params: SearchParams, groups: list[FacetGroup]) -> list[ActiveFilter]:
    out = []
    for group in groups:
        for option in group.options:
            if option.checked:
                rest = [v for v in params.filters[FILTER_PARAMS[group.param]] if v != option.value]
                query = _query(params, page=None, **{group.param: rest or None})
                out.append(ActiveFilter(f"{group.label}: {option.label}", _url(request, query)))
    labels = dict(purpose_choices()) if params.purpose else {}
    for term in params.purpose:
        rest = [t for t in params.purpose if t != term]
        # The diseases go with the last disease-specific term (alone they would imply it).
        keep_diseases = any(is_disease_specific(t) for t in rest)
        query = _query(
            params,
            page=None,
            purpose=rest or None,
            **({} if keep_diseases else {"purpose_disease": None}),
        )
        label = f"Matches my purpose: {labels.get(term, term)} ({term})"
        out.append(ActiveFilter(label, _url(request, query)))
    for code in params.purpose_diseases:
        rest = [c for c in params.purpose_diseases if c != code]
        query = _query(params, page=None, purpose_disease=[",".join(rest)] if rest else None)
        out.append(ActiveFilter(f"Purpose disease (ICD-10): {code}", _url(request, query)))
    if params.age_min is not None:
        out.append(
            ActiveFilter(
                f"Age from {params.age_min}", _url(request, _query(params, page=None, age_min=None))
            )
        )
    if params.age_max is not None:
        out.append(
            ActiveFilter(
                f"Age up to {params.age_max}",
                _url(request, _query(params, page=None, age_max=None)),
            )
        )
    if params.min_subjects:
        query = _query(params, page=None, min_subjects=None)
        out.append(ActiveFilter(f"At least {params.min_subjects} subjects", _url(request, query)))
    return out


def _page_url(request, params: SearchParams, number: int, pages: int) -> str:
    if not 1 <= number <= pages:
        return ""
    return _url(request, _query(params, page=number if number > 1 else None))


def _charts(facets: dict) -> list[charts.Chart]:
    age = [(c.value, c.count) for c in facets.get("age", [])]
    return [
        charts.histogram(
            "chart-age",
            "Datasets covering each age group",
            age_rows(age),
            axis_label="Age (years, by decade)",
            label_heading="Age (years)",
        ),
        charts.horizontal_bars(
            "chart-modality",
            "Datasets by modality",
            [(c.value, c.count) for c in facets.get("modality", [])],
            label_heading="Modality",
        ),
        charts.horizontal_bars(
            "chart-body-part",
            "Datasets by body part",
            [(c.value, c.count) for c in facets.get("body_part", [])],
            label_heading="Body part",
        ),
    ]


def search(request: HttpRequest) -> HttpResponse:
    try:
        params = parse_search(
            request.GET,
            default_page_size=settings.CATALOGUE_PAGE_SIZE,
            max_page_size=settings.CATALOGUE_MAX_PAGE_SIZE,
        )
    except ValidationFailed as exc:
        context = {
            "error": exc.message,
            "error_parameter": exc.details.get("parameter", ""),
            "q": request.GET.get("q", "")[:MAX_QUERY_LENGTH],
        }
        return render(request, "catalogue/search.html", context, status=400)
    params.with_facets = True
    result = selectors.search_datasets(request.user, params)
    groups = _facet_groups(params, result.facets)
    first = (result.page - 1) * result.page_size + 1
    context = {
        "params": params,
        "q": params.text,
        "result": result,
        "datasets": result.datasets,
        "first": first,
        "last": first + len(result.datasets) - 1,
        "facet_groups": groups,
        "purpose_options": [
            {"value": term_id, "label": label, "checked": term_id in params.purpose}
            for term_id, label in purpose_choices()
        ],
        "purpose_diseases": ", ".join(params.purpose_diseases),
        "disease_specific": DISEASE_SPECIFIC,
        "active_filters": _active_filters(request, params, groups),
        "min_subjects_options": result.facets.get("min_subjects", []),
        "sorts": [(k, v) for k, v in SORT_LABELS.items() if k != "relevance" or params.text],
        "charts": _charts(result.facets),
        "pages": paging.page_links(
            params.page, result.pages, lambda n: _page_url(request, params, n, result.pages)
        ),
        "previous_url": _page_url(request, params, params.page - 1, result.pages),
        "next_url": _page_url(request, params, params.page + 1, result.pages),
        "clear_url": request.path,
    }
    return render(request, "catalogue/search.html", context)


def _available_actions(dataset: Dataset, has_next_draft: bool) -> list[dict]:
    """The lifecycle buttons valid in the dataset's state, in the order shown."""
    dois = dataset.organisation.dois_enabled
    by_state = {
        State.DRAFT: [
            ("release", "Release", "Signed-in users can find it; its description is then frozen."),
        ],
        State.RELEASED: [
            (
                "publish",
                "Publish",
                "Anyone can see the metadata" + ("; a DOI is minted on Zenodo." if dois else "."),
            ),
            ("new_version", "New version", "Start a draft copy to change the description."),
        ],
        State.PUBLISHED: [
            (
                "unpublish",
                "Unpublish",
                "Back to released" + ("; the DOI record goes to closed access." if dois else "."),
            ),
            ("new_version", "New version", "Start a draft copy to change the description."),
        ],
    }
    actions = [
        {"action": a, "label": label, "help": help_text}
        for a, label, help_text in by_state.get(dataset.state, [])
        if not (a == "new_version" and has_next_draft)
    ]
    return actions


def _authors(dataset: Dataset) -> list[dict]:
    out = []
    for author in dataset.authors or []:
        if isinstance(author, dict):
            out.append(
                {"name": author.get("name", ""), "affiliation": author.get("affiliation", "")}
            )
        elif author:
            out.append({"name": str(author), "affiliation": ""})
    return out


def dataset_detail(request: HttpRequest, pk) -> HttpResponse:
    dataset = selectors.dataset_for(request.user, pk)
    can_manage = can_manage_organisation(request.user, dataset.organisation_id)
    versions = selectors.versions_of(request.user, dataset)
    next_draft = next(
        (v for v in versions if v.previous_version_id == dataset.pk and v.state == State.DRAFT),
        None,
    )
    counts = dataset.sex_counts or {}
    order = [*SEXES, *sorted(set(counts) - set(SEXES))]
    sex_svg, sex_parts = charts.proportion_bar(
        "chart-sex", "Subjects by sex", [(s.capitalize(), counts.get(s) or 0) for s in order]
    )
    context = {
        "dataset": dataset,
        "can_manage": can_manage,
        "actions": _available_actions(dataset, next_draft is not None) if can_manage else [],
        # Any state shown here may be invalidated: an invalidated dataset is a tombstone.
        "can_invalidate": can_manage,
        "next_draft": next_draft if can_manage else None,
        "versions": versions,
        "history": selectors.lifecycle_history(dataset),
        "zenodo_sync": selectors.pending_doi_sync(dataset),
        "authors": _authors(dataset),
        "sex_svg": sex_svg,
        "sex_parts": sex_parts,
        "dcat_formats": [("ttl", "Turtle"), ("rdf", "RDF/XML"), ("jsonld", "JSON-LD")],
    }
    return render(request, "catalogue/dataset_detail.html", context)


def _render_form(request, form: DatasetForm, status: int = 200, dataset: Dataset | None = None):
    context = {"form": form, "dataset": dataset, "frozen_note": FROZEN_NOTE}
    return render(request, "catalogue/dataset_form.html", context, status=status)


@login_required
def dataset_create(request: HttpRequest) -> HttpResponse:
    organisations = provider_organisations(request.user)
    if not organisations:
        raise NotAllowed("Only providers of an organisation can create datasets.")
    if request.method != "POST":
        return _render_form(request, DatasetForm(organisations=organisations))
    form = DatasetForm(request.POST, organisations=organisations)
    if not form.is_valid():
        return _render_form(request, form, status=400)
    try:
        dataset = services.create_dataset(
            organisation=form.chosen_organisation, by=request.user, **form.changes()
        )
    except DomainError as exc:
        return _render_form(request, form, status=form.add_domain_error(exc))
    messages.success(request, f"Draft “{dataset.title}” created. Release it when it is ready.")
    return redirect(dataset)


@login_required
def dataset_edit(request: HttpRequest, pk) -> HttpResponse:
    dataset = selectors.dataset_for(request.user, pk)
    require(
        can_manage_organisation(request.user, dataset.organisation_id),
        "Only providers of this organisation can edit its datasets.",
    )
    if request.method != "POST":
        return _render_form(request, DatasetForm(dataset=dataset), dataset=dataset)
    form = DatasetForm(request.POST, dataset=dataset)
    if not form.is_valid():
        return _render_form(request, form, status=400, dataset=dataset)
    try:
        changes = form.changes()
        if changes:
            dataset = services.update_dataset(dataset=dataset, by=request.user, **changes)
    except DomainError as exc:
        return _render_form(request, form, status=form.add_domain_error(exc), dataset=dataset)
    if changes:
        messages.success(request, "Changes saved.")
    else:
        messages.info(request, "Nothing changed.")
    return redirect(dataset)


TRANSITIONS = {
    "release": (services.release_dataset, "Released: signed-in users can now find it."),
    "publish": (services.publish_dataset, "Published: its metadata is now public."),
    "unpublish": (services.unpublish_dataset, "Unpublished: it is back to released."),
    "reactivate": (services.reactivate_dataset, "Reactivated."),
}
ACTIONS = (*TRANSITIONS, "invalidate", "new_version")


def dataset_transition(request: HttpRequest, pk) -> HttpResponse:
    if request.method != "POST":
        context = {
            "status": 405,
            "message": "Lifecycle changes are made with the dataset page's buttons.",
        }
        response = render(request, "hub/error.html", context, status=405)
        response["Allow"] = "POST"
        return response
    dataset = selectors.dataset_to_manage(request.user, pk)
    action = request.POST.get("action", "")
    if action not in ACTIONS:
        raise ValidationFailed(f"action must be one of {', '.join(ACTIONS)}.", field="action")
    if action == "new_version":
        draft = services.create_new_version(dataset=dataset, by=request.user)
        messages.success(
            request, f"Version {draft.version} drafted: change it here, then release it."
        )
        return redirect(reverse("catalogue:dataset-edit", args=[draft.pk]))
    if action == "invalidate":
        reason = request.POST.get("reason", "")
        services.invalidate_dataset(dataset=dataset, by=request.user, reason=reason)
        messages.success(request, "Invalidated: the dataset is hidden and its page is a tombstone.")
    else:
        service, message = TRANSITIONS[action]
        dataset = service(dataset=dataset, by=request.user)
        if action == "reactivate":
            message = f"Reactivated: it is {dataset.get_state_display().lower()} again."
        messages.success(request, message)
    return redirect(reverse("catalogue:dataset", args=[dataset.pk]))
