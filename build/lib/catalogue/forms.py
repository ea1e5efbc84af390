"""The dataset form of the web pages: lists as comma-separated text, authors one per line.

The form only turns text into the values the services expect; every rule about
what may change (frozen fields, who may edit) stays in `services`.
"""

from __future__ import annotations

from typing import Any

from django import forms

from hub.errors import DomainError
from hub.models import Organisation

from . import services
from .facets import SEXES
from .models import AccessRights, Dataset

SEX_FIELDS = {f"sex_{sex}": sex for sex in SEXES}
LIST_TEXT_FIELDS = (
    "keywords",
    "modalities",
    "body_parts",
    "diagnoses",
    "manufacturers",
    "duo_terms",
)
COUNT_FIELDS = ("number_of_subjects", "number_of_studies", "size_bytes")
# Form fields that hold descriptive content (frozen after release): the model's list, with
# the sex counts split into their four inputs; the study list has no input here.
DESCRIPTIVE_INPUTS = (
    "version",
    *(f for f in Dataset.DESCRIPTIVE_FIELDS if f not in ("sex_counts", "studies")),
)
FROZEN_FORM_FIELDS = (*DESCRIPTIVE_INPUTS, *SEX_FIELDS)
FROZEN_NOTE = "Frozen after release: create a new version to change them."


class CommaSeparatedField(forms.CharField):
    """A list of strings typed as `CT, MR`; shown back the same way."""

    def prepare_value(self, value):
        if isinstance(value, list | tuple):
            return ", ".join(str(v) for v in value)
        return value

    def to_python(self, value) -> list[str]:
        text = super().to_python(value)
        return list(dict.fromkeys(v.strip() for v in text.split(",") if v.strip()))


class AuthorsField(forms.CharField):
    """One author per line, `Name; Affiliation` (the affiliation may be left out)."""

    widget = forms.Textarea(attrs={"rows": 3})

    def prepare_value(self, value):
        if isinstance(value, list):
            lines = []
            for author in value:
                if isinstance(author, dict):
                    name, affiliation = author.get("name", ""), author.get("affiliation", "")
                    lines.append(f"{name}; {affiliation}" if affiliation else str(name))
                else:
                    lines.append(str(author))
            return "\n".join(lines)
        return value

    def to_python(self, value) -> list[dict[str, str]]:
        text = super().to_python(value)
        authors = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            name, _, affiliation = (part.strip() for part in line.partition(";"))
            if not name:
                raise forms.ValidationError(
                    f"Line {number}: the name comes first, as in “Name; Affiliation”."
                )
            authors.append(
                {"name": name, "affiliation": affiliation} if affiliation else {"name": name}
            )
        return authors


# The columns' limits (PositiveIntegerField, BigIntegerField): larger numbers are a 400, not a 500.
MAX_COUNT = 2_147_483_647
MAX_BYTES = 9_223_372_036_854_775_807


def _count(label: str, max_value: int = MAX_COUNT, **kwargs) -> forms.IntegerField:
    return forms.IntegerField(
        label=label, required=False, min_value=0, max_value=max_value, **kwargs
    )


class DatasetForm(forms.Form):
    organisation = forms.ChoiceField(label="Organisation", help_text="Who holds the data.")
    title = forms.CharField(max_length=500)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 6}))
    version = forms.CharField(max_length=32, required=False, help_text="Defaults to 1.")
    keywords = CommaSeparatedField(
        required=False, help_text="Comma-separated, e.g. lung, screening."
    )
    number_of_subjects = _count("Number of subjects")
    number_of_studies = _count("Number of studies")
    modalities = CommaSeparatedField(required=False, help_text="DICOM codes, e.g. CT, MR, PT.")
    body_parts = CommaSeparatedField(
        required=False,
        label="Body parts",
        help_text="DICOM body part examined, e.g. CHEST, BREAST.",
    )
    diagnoses = CommaSeparatedField(required=False, help_text="ICD-10 codes, e.g. C34.1, C50.")
    sex_female = _count("Female")
    sex_male = _count("Male")
    sex_other = _count("Other")
    sex_unknown = _count("Unknown")
    age_min = forms.IntegerField(label="Youngest age", required=False, min_value=0, max_value=150)
    age_max = forms.IntegerField(label="Oldest age", required=False, min_value=0, max_value=150)
    manufacturers = CommaSeparatedField(required=False, help_text="Comma-separated scanner makers.")
    size_bytes = _count("Size in bytes", max_value=MAX_BYTES, help_text="Total size of the images.")
    license = forms.URLField(
        label="Licence",
        max_length=500,
        required=False,
        assume_scheme="https",
        help_text="URL of the licence, e.g. a Creative Commons deed.",
    )
    contact_name = forms.CharField(max_length=200, required=False, label="Contact name")
    contact_email = forms.EmailField(required=False, label="Contact e-mail")
    authors = AuthorsField(required=False, help_text="One per line: Name; Affiliation.")
    identifier = forms.CharField(
        max_length=255,
        required=False,
        label="Persistent identifier",
        help_text="Your own identifier.",
    )
    access_rights = forms.ChoiceField(choices=AccessRights.choices, initial=AccessRights.RESTRICTED)
    duo_terms = CommaSeparatedField(
        required=False, label="Data use terms (DUO)", help_text="Comma-separated, e.g. DUO:0000007."
    )

    def __init__(
        self,
        data=None,
        *,
        dataset: Dataset | None = None,
        organisations: list[Organisation] | None = None,
        **kwargs,
    ):
        self.dataset = dataset
        self.frozen = bool(dataset and dataset.is_frozen)
        self.organisations = {org.slug: org for org in organisations or []}
        self.submitted = set(data.keys()) if data is not None else set()
        if dataset is not None:
            kwargs.setdefault("initial", initial_from(dataset))
        if data is not None and self.frozen:
            # Disabled inputs are not posted: show the stored values again if the form comes back.
            data = data.copy()
            initial = kwargs["initial"]
            for name in FROZEN_FORM_FIELDS:
                if name not in data:
                    value = initial.get(name)
                    data[name] = (
                        "" if value is None else str(self.base_fields[name].prepare_value(value))
                    )
        kwargs.setdefault("label_suffix", "")
        super().__init__(data, **kwargs)
        if dataset is not None:
            del self.fields["organisation"]
        else:
            self.fields["organisation"].choices = [(o.slug, o.name) for o in organisations or []]
        if self.frozen:
            for name in FROZEN_FORM_FIELDS:
                field = self.fields[name]
                field.required = False
                field.widget.attrs["disabled"] = True

    # Groups of fields for the template, each a fieldset.
    @property
    def fieldsets(self) -> list[tuple[str, str, list[forms.BoundField]]]:
        def bound(*names):
            return [self[n] for n in names if n in self.fields]

        return [
            ("Organisation", "", bound("organisation")),
            ("Description", "frozen", bound("title", "description", "version", "keywords")),
            (
                "Contents",
                "frozen",
                bound(
                    "number_of_subjects",
                    "number_of_studies",
                    "modalities",
                    "body_parts",
                    "diagnoses",
                    "manufacturers",
                    "size_bytes",
                ),
            ),
            ("Subjects by sex", "frozen sex", bound(*SEX_FIELDS)),
            ("Age range (years)", "frozen age", bound("age_min", "age_max")),
            (
                "Access and credits",
                "",
                bound(
                    "access_rights",
                    "duo_terms",
                    "license",
                    "contact_name",
                    "contact_email",
                    "authors",
                    "identifier",
                ),
            ),
        ]

    def clean(self):
        data = super().clean()
        low, high = data.get("age_min"), data.get("age_max")
        if low is not None and high is not None and low > high:
            self.add_error("age_min", "The youngest age must not be greater than the oldest.")
        return data

    @property
    def chosen_organisation(self) -> Organisation | None:
        return self.organisations.get(self.cleaned_data.get("organisation", ""))

    def changes(self) -> dict[str, Any]:
        """The service's keyword arguments: on an edit, only what differs from the dataset.

        On a released dataset the descriptive inputs are disabled; whatever is still
        posted for them goes to the service, which answers 409 if it would change.
        """
        data = self.cleaned_data
        out: dict[str, Any] = {}
        for name in (
            "title",
            "description",
            *LIST_TEXT_FIELDS,
            "age_min",
            "age_max",
            "license",
            "contact_name",
            "contact_email",
            "identifier",
            "access_rights",
        ):
            out[name] = data.get(name)
        for name in COUNT_FIELDS:
            out[name] = data.get(name) or 0
        out["sex_counts"] = {sex: data[f] for f, sex in SEX_FIELDS.items() if data.get(f)}
        out["authors"] = _keep_author_details(
            data.get("authors") or [], self.dataset.authors if self.dataset else []
        )
        if data.get("version"):
            out["version"] = data["version"].strip()
        if self.frozen:
            posted = self.submitted
            out = {
                k: v
                for k, v in out.items()
                if k not in Dataset.DESCRIPTIVE_FIELDS
                or (k in posted)
                or (k == "sex_counts" and posted & set(SEX_FIELDS))
            }
            out.pop("version", None)
        out = services.clean_fields(out)
        if self.dataset is not None:
            out = {k: v for k, v in out.items() if not _same(k, getattr(self.dataset, k), v)}
        return out

    def add_domain_error(self, error: DomainError) -> int:
        """Show a service's refusal on the form; returns the HTTP status to answer with."""
        field = error.details.get("field")
        if field == "sex_counts":
            field = None
        if field in self.fields and not self.fields[field].widget.attrs.get("disabled"):
            self.add_error(field, error.message)
        else:
            self.add_error(None, error.message)
        return error.status_code


def initial_from(dataset: Dataset) -> dict[str, Any]:
    initial: dict[str, Any] = {
        name: getattr(dataset, name) for name in (*DESCRIPTIVE_INPUTS, *Dataset.EDITABLE_FIELDS)
    }
    counts = dataset.sex_counts or {}
    initial |= {f: counts.get(sex) or 0 for f, sex in SEX_FIELDS.items()}
    return initial


def _same(name: str, old, new) -> bool:
    if name == "sex_counts":
        return {k: v for k, v in (old or {}).items() if v} == {k: v for k, v in new.items() if v}
    if old is None and new == "":
        return True
    return old == new


def _keep_author_details(authors: list[dict], before: list) -> list:
    """An author whose line did not change keeps what the form does not show (e.g. ORCID)."""
    known = {
        (a.get("name", ""), a.get("affiliation", "")): a for a in before if isinstance(a, dict)
    }
    return [known.get((a["name"], a.get("affiliation", "")), a) for a in authors]
