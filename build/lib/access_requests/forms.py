"""The forms of the access-request pages. They only shape input: the services check it
(DUO terms, ICD-10 codes, states, who may act) so the pages and the API cannot disagree."""

from __future__ import annotations

from django import forms

from hyperontology.duo import NO_RESTRICTION, Duo

from .models import ProjectMember, Vote


def purpose_choices() -> list[tuple[str, str]]:
    """DUO's research purposes (its permission terms but "no restriction", which describes
    data, not a purpose), broadest first."""
    duo = Duo.load()
    terms = [t for t in duo.terms.values() if t.kind == "permission" and not t.obsolete]
    terms = [t for t in terms if t.id != NO_RESTRICTION]
    terms.sort(key=lambda t: (len(duo.ancestors(t.id)), t.id))
    return [(t.id, f"{t.label} ({t.shorthand or t.id})") for t in terms]


class CommaList(forms.CharField):
    """Comma- or space-separated values as a list."""

    def to_python(self, value):
        text = super().to_python(value) or ""
        return [v for v in text.replace(",", " ").split() if v]

    def prepare_value(self, value):
        return ", ".join(value) if isinstance(value, list | tuple) else value


class RequestForm(forms.Form):
    """What a request says about its use of the data (the basket's form and the edit form)."""

    purpose = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="What the project will do with these datasets, for the committees.",
    )
    purpose_duo = forms.MultipleChoiceField(
        label="Purpose as DUO terms",
        choices=purpose_choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Checked against each dataset's data-use conditions.",
    )
    purpose_icd10 = CommaList(
        label="Diseases studied (ICD-10)",
        required=False,
        max_length=500,
        help_text="For disease-specific research: codes, blocks or chapters, e.g. C34, C50.9.",
    )
    duration_days = forms.IntegerField(
        label="Requested duration (days)", min_value=1, max_value=3650, initial=365
    )
    ethics_reference = forms.CharField(
        label="Ethics approval reference", max_length=200, required=False
    )
    ethics_document = forms.FileField(
        label="Ethics approval document (PDF)",
        required=False,
        widget=forms.ClearableFileInput(attrs={"accept": "application/pdf"}),
        help_text="A PDF, checked by its content; it replaces any document attached before.",
    )
    accepted = forms.MultipleChoiceField(required=False, widget=forms.MultipleHiddenInput)

    def __init__(self, *args, datasets=(), projects=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["accepted"].choices = [(str(d.pk), d.title) for d in datasets]
        if projects is not None:
            self.fields = {
                "project": forms.ChoiceField(
                    choices=[("", "Choose a project")] + [(p.code, str(p)) for p in projects],
                    help_text="Access is granted to the project, for its sandbox.",
                ),
                **self.fields,
            }

    def changes(self) -> dict:
        """The request's fields as edit_request takes them."""
        data = self.cleaned_data
        return {
            "purpose": data["purpose"],
            "purpose_duo": data["purpose_duo"],
            "purpose_icd10": data["purpose_icd10"],
            "duration_days": data["duration_days"],
            "ethics_reference": data["ethics_reference"],
        }


class ProjectForm(forms.Form):
    code = forms.CharField(
        max_length=64,
        help_text="Short and unique, e.g. LUNG-AI: it names the project's sandbox and its "
        "OIDC group PROJECT-<code>.",
    )
    title = forms.CharField(max_length=300)
    purpose = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}))


class MemberForm(forms.Form):
    username = forms.CharField(max_length=150)
    role = forms.ChoiceField(choices=ProjectMember.Role.choices, initial="member")


class VoteForm(forms.Form):
    choice = forms.ChoiceField(choices=Vote.Choice.choices, widget=forms.RadioSelect)
    comment = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)


class NoteForm(forms.Form):
    note = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)


class MessageForm(forms.Form):
    text = forms.CharField(label="Message", widget=forms.Textarea(attrs={"rows": 2}))


class ReasonForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}))
