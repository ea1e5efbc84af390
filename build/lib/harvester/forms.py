"""The node forms of the web pages: registering a node, and its settings with the
provider's own mappings typed as JSON or as CSV lines.

The forms only turn text into the values the services expect; every rule (who may
register, which mapping kinds exist, which URLs the hub may fetch) stays in `services`.
"""

from __future__ import annotations

import csv
import json
from typing import Any

from django import forms

from hub.errors import DomainError
from hub.models import Organisation

from .models import Node

MAX_SCHEDULE_MINUTES = 60 * 24 * 366
CSV_HEADER = ["kind", "label", "code"]
MAPPINGS_HELP = (
    'JSON, e.g. {"modality": {"TAC": "CT"}, "body_part": {"Thorax": "CHEST"}}, or one '
    "mapping per line as CSV: kind,label,code (e.g. modality,TAC,CT). They add to the hub's "
    "own mappings or override them; leave empty to use only the hub's."
)


def parse_mappings(text: str) -> dict[str, dict[str, str]]:
    """{kind: {label: code}} from JSON or from CSV lines `kind,label,code` (a header line
    `kind,label,code` and lines starting with # are skipped). Which kinds and codes are
    valid is the service's to say."""
    text = (text or "").strip()
    if not text:
        return {}
    if text.startswith("{"):
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(
                f"This is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})."
            ) from exc
        if not isinstance(value, dict):
            raise forms.ValidationError('Expected an object such as {"modality": {"TAC": "CT"}}.')
        return value
    if text.startswith("["):
        raise forms.ValidationError('Expected an object such as {"modality": {"TAC": "CT"}}.')
    out: dict[str, dict[str, str]] = {}
    lines = text.splitlines()
    for number, row in enumerate(csv.reader(lines), start=1):
        cells = [cell.strip() for cell in row]
        if not any(cells) or cells[0].startswith("#"):
            continue
        if [c.lower() for c in cells] == CSV_HEADER:
            continue
        if len(cells) != 3 or not all(cells):
            raise forms.ValidationError(
                f"Line {number}: expected three values, kind,label,code (e.g. modality,TAC,CT)."
            )
        kind, label, code = cells
        out.setdefault(kind, {})[label] = code
    return out


class MappingsField(forms.CharField):
    widget = forms.Textarea(attrs={"rows": 8, "spellcheck": "false"})

    def prepare_value(self, value):
        if isinstance(value, dict):
            return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True) if value else ""
        return value

    def to_python(self, value) -> dict[str, dict[str, str]]:
        return parse_mappings(super().to_python(value))


def _schedule(**kwargs) -> forms.IntegerField:
    return forms.IntegerField(
        label="Schedule (minutes)",
        min_value=0,
        max_value=MAX_SCHEDULE_MINUTES,
        help_text="Pull every this many minutes (1440: daily); 0: only when asked.",
        **kwargs,
    )


class DomainErrorsMixin:
    def add_domain_error(self, error: DomainError) -> int:
        """Show a service's refusal next to its field; returns the HTTP status to answer."""
        field = error.details.get("field")
        self.add_error(field if field in self.fields else None, error.message)
        return error.status_code


class NodeRegisterForm(DomainErrorsMixin, forms.Form):
    organisation = forms.ChoiceField(label="Organisation", help_text="Whose catalogue it is.")
    name = forms.CharField(max_length=200)
    base_url = forms.CharField(
        label="Base URL",
        max_length=1000,
        required=False,
        help_text="The node's DCAT catalogue URL; not needed for a node that only pushes.",
    )
    mode = forms.ChoiceField(choices=Node.Mode.choices, initial=Node.Mode.PULL)
    schedule_minutes = _schedule(initial=1440)
    auto_release = forms.BooleanField(
        label="Release new records at once",
        required=False,
        help_text="Otherwise new records enter the catalogue as drafts.",
    )

    def __init__(self, data=None, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(data, **kwargs)
        self.organisations = {o.slug: o for o in Organisation.objects.order_by("name")}
        self.fields["organisation"].choices = [
            ("", "Choose an organisation"),
            *((o.slug, o.name) for o in self.organisations.values()),
        ]

    def arguments(self) -> dict[str, Any]:
        """The keyword arguments of services.register_node."""
        data = self.cleaned_data
        return {
            "organisation": self.organisations[data["organisation"]],
            "name": data["name"],
            "base_url": data["base_url"],
            "mode": data["mode"],
            "schedule_minutes": data["schedule_minutes"],
            "auto_release": data["auto_release"],
        }


class NodeSettingsForm(DomainErrorsMixin, forms.Form):
    schedule_minutes = _schedule()
    auto_release = forms.BooleanField(
        label="Release new records at once",
        required=False,
        help_text="Otherwise new records enter the catalogue as drafts.",
    )
    enabled = forms.BooleanField(
        label="Enabled",
        required=False,
        help_text="A disabled node is not pulled on schedule and its push token is refused.",
    )
    mappings = MappingsField(
        label="Mappings of your own terms", required=False, help_text=MAPPINGS_HELP
    )

    def __init__(self, data=None, *, node: Node, **kwargs):
        self.node = node
        kwargs.setdefault("label_suffix", "")
        kwargs.setdefault(
            "initial",
            {
                "schedule_minutes": node.schedule_minutes,
                "auto_release": node.auto_release,
                "enabled": node.enabled,
                "mappings": node.mappings or {},
            },
        )
        super().__init__(data, **kwargs)

    def changes(self) -> dict[str, Any]:
        """The keyword arguments of services.update_node: only what differs from the node."""
        current = {name: getattr(self.node, name) for name in self.fields}
        current["mappings"] = current["mappings"] or {}
        return {name: v for name, v in self.cleaned_data.items() if v != current[name]}
