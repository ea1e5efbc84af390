"""Display helpers for the catalogue pages: names for codes, age ranges, dates."""

from __future__ import annotations

from datetime import datetime

from django import template
from django.utils.dateparse import parse_datetime

register = template.Library()

# DICOM modality codes (PS3.3 C.7.3.1.1.1) most often seen in imaging catalogues.
MODALITY_NAMES = {
    "CR": "Computed radiography",
    "CT": "Computed tomography",
    "DX": "Digital radiography",
    "MG": "Mammography",
    "MR": "Magnetic resonance",
    "NM": "Nuclear medicine",
    "OT": "Other",
    "PT": "Positron emission tomography",
    "RF": "Radiofluoroscopy",
    "RTDOSE": "Radiotherapy dose",
    "RTPLAN": "Radiotherapy plan",
    "RTSTRUCT": "Radiotherapy structure set",
    "SEG": "Segmentation",
    "SM": "Slide microscopy",
    "SR": "Structured report",
    "US": "Ultrasound",
    "XA": "X-ray angiography",
}

# GA4GH Data Use Ontology: identifier -> (shorthand, label), from the DUO release.
DUO_TERMS = {
    "DUO:0000004": ("NRES", "no restriction"),
    "DUO:0000006": ("HMB", "health or medical or biomedical research"),
    "DUO:0000007": ("DS", "disease specific research"),
    "DUO:0000011": ("POA", "population origins or ancestry research only"),
    "DUO:0000012": ("RS", "research specific restrictions"),
    "DUO:0000015": ("NMDS", "no general methods research"),
    "DUO:0000016": ("GSO", "genetic studies only"),
    "DUO:0000018": ("NPUNCU", "not for profit, non commercial use only"),
    "DUO:0000019": ("PUB", "publication required"),
    "DUO:0000020": ("COL", "collaboration required"),
    "DUO:0000021": ("IRB", "ethics approval required"),
    "DUO:0000022": ("GS", "geographical restriction"),
    "DUO:0000024": ("MOR", "publication moratorium"),
    "DUO:0000025": ("TS", "time limit on use"),
    "DUO:0000026": ("US", "user specific restriction"),
    "DUO:0000027": ("PS", "project specific restriction"),
    "DUO:0000028": ("IS", "institution specific restriction"),
    "DUO:0000029": ("RTN", "return to database or resource"),
    "DUO:0000042": ("GRU", "general research use"),
    "DUO:0000043": ("CC", "clinical care use"),
    "DUO:0000044": ("NPOA", "population origins or ancestry research prohibited"),
    "DUO:0000045": ("NPU", "not for profit organisation use only"),
    "DUO:0000046": ("NCU", "non-commercial use only"),
}


@register.filter
def modality_name(code: str) -> str:
    return MODALITY_NAMES.get(str(code).upper(), "")


@register.filter
def duo_label(term: str) -> str:
    known = DUO_TERMS.get(str(term))
    return f"{known[1]} ({known[0]})" if known else str(term)


@register.filter
def duo_url(term: str) -> str:
    """The term's OBO PURL, e.g. DUO:0000007 -> http://purl.obolibrary.org/obo/DUO_0000007."""
    prefix, _, number = str(term).partition(":")
    return f"http://purl.obolibrary.org/obo/{prefix}_{number}" if number else ""


@register.filter
def age_range(dataset) -> str:
    low, high = getattr(dataset, "age_min", None), getattr(dataset, "age_max", None)
    if low is None and high is None:
        return "not stated"
    if low is None:
        return f"up to {high} years"
    if high is None:
        return f"{low} years and over"
    return f"{low}–{high} years"


@register.filter
def iso_datetime(value) -> datetime | None:
    """The tombstone carries ISO strings (it is also the API's 410 body); dates for |date."""
    if isinstance(value, datetime) or value is None:
        return value
    try:
        return parse_datetime(str(value))
    except ValueError:
        return None


@register.filter
def humanise_label(value: str) -> str:
    """`body_part` -> `Body part`, `HEADNECK` stays as it is."""
    text = str(value)
    if text.islower():
        return text.replace("_", " ").capitalize()
    return text
