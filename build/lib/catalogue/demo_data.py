"""Synthetic cancer-imaging datasets for the demo (`manage.py load_demo`).

`generate()` is plain Python and deterministic (seeded): it describes each
dataset and the lifecycle steps it goes through. `load()` plays those steps
through the catalogue services, so facets, history and versions are built as
they would be for a real provider. Nothing here describes real patients, and
every identifier is a `urn:agora-demo:` name.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from hub.models import Organisation

from . import services
from .models import Dataset

SEED = 20250519
COUNT = 200
IDENTIFIER_PREFIX = "urn:agora-demo:"

CC_BY = "https://creativecommons.org/licenses/by/4.0/"
CC_BY_NC = "https://creativecommons.org/licenses/by-nc/4.0/"

GRU, HMB, DS = "DUO:0000042", "DUO:0000006", "DUO:0000007"
IRB, PUB, NPUNCU, NCU = "DUO:0000021", "DUO:0000019", "DUO:0000018", "DUO:0000046"
RTN, PS, IS, US = "DUO:0000029", "DUO:0000027", "DUO:0000028", "DUO:0000026"

SIEMENS, GE, PHILIPS, CANON = "SIEMENS", "GE MEDICAL SYSTEMS", "Philips", "Canon Medical Systems"
HOLOGIC, FUJIFILM = "HOLOGIC, Inc.", "FUJIFILM Corporation"

MODALITY_WORDS = {"CT": "CT", "MR": "MRI", "MG": "mammography", "PT": "PET"}

HANDLING_NOTE = (
    "Images are de-identified following the DICOM PS3.15 Basic Application Level "
    "Confidentiality Profile and stay at the provider's site; access is granted per "
    "project by the data access committee."
)
DEMO_NOTE = (
    "Synthetic demonstration record of the Agora demo: it describes no real patients "
    "and no images stand behind it."
)


@dataclass(frozen=True)
class Family:
    """One kind of collection, with the ranges its synthetic facts are drawn from."""

    key: str
    weight: int
    titles: tuple[str, ...]
    modalities: tuple[tuple[str, ...], ...]
    body_parts: tuple[tuple[str, ...], ...]
    diagnoses: tuple[str, ...]
    extra_diagnoses: tuple[str, ...]
    female_share: float
    ages: tuple[int, int]
    subjects: tuple[int, int]
    studies_per_subject: tuple[float, float]
    megabytes_per_study: tuple[int, int]
    manufacturers: tuple[str, ...]
    keywords: tuple[str, ...]
    annotations: tuple[str, ...]
    share_first: float = 0.5  # share going to the first organisation (La Fe)


FAMILIES = (
    Family(
        key="lung-ct",
        weight=30,
        titles=(
            "Low-dose CT lung cancer screening cohort",
            "Incidental pulmonary nodule follow-up CT",
            "Non-small cell lung cancer staging CT",
            "Lung adenocarcinoma CT with EGFR mutation status",
            "Stereotactic radiotherapy planning CT for early-stage NSCLC",
            "Immunotherapy response CT in advanced NSCLC",
        ),
        modalities=(("CT",),),
        body_parts=(("CHEST",),),
        diagnoses=("C34.1", "C34.3", "C34.9", "C34.2"),
        extra_diagnoses=(),
        female_share=0.38,
        ages=(50, 82),
        subjects=(60, 2400),
        studies_per_subject=(1.0, 3.2),
        megabytes_per_study=(180, 450),
        manufacturers=(SIEMENS, GE, PHILIPS, CANON),
        keywords=(
            "lung cancer",
            "low-dose CT",
            "screening",
            "pulmonary nodule",
            "NSCLC",
            "radiomics",
            "Lung-RADS",
            "nodule segmentation",
            "immunotherapy",
            "RECIST 1.1",
        ),
        annotations=(
            "Nodules are segmented and scored with Lung-RADS v1.1 by two thoracic radiologists.",
            "Each subject has histology and TNM stage (8th edition).",
            "Lesions carry RECIST 1.1 measurements at baseline and follow-up.",
            "EGFR and ALK status are recorded per subject.",
        ),
    ),
    Family(
        key="breast-mg",
        weight=28,
        titles=(
            "Digital mammography screening with interval cancers",
            "Digital breast tomosynthesis recall cases",
            "Breast density and cancer risk mammography cohort",
            "Contrast-enhanced mammography of suspicious lesions",
            "Mammography with biopsy-proven BI-RADS 4-5 lesions",
        ),
        modalities=(("MG",),),
        body_parts=(("BREAST",),),
        diagnoses=("C50.4", "C50.9", "C50.1", "C50.2", "C50.8"),
        extra_diagnoses=(),
        female_share=1.0,
        ages=(40, 74),
        subjects=(300, 6000),
        studies_per_subject=(1.0, 2.6),
        megabytes_per_study=(40, 250),
        manufacturers=(HOLOGIC, GE, SIEMENS, FUJIFILM),
        keywords=(
            "breast cancer",
            "mammography",
            "screening",
            "tomosynthesis",
            "BI-RADS",
            "breast density",
            "interval cancer",
            "computer-aided detection",
        ),
        annotations=(
            "Lesions are outlined and classified with BI-RADS 5th edition.",
            "Cancers are confirmed by biopsy; interval cancers are flagged.",
            "Breast density is graded A-D by two readers.",
        ),
    ),
    Family(
        key="prostate-mr",
        weight=24,
        titles=(
            "Multiparametric prostate MRI with PI-RADS v2.1 scores",
            "Biparametric prostate MRI for clinically significant cancer",
            "Prostate MRI before targeted fusion biopsy",
            "Active surveillance prostate MRI follow-up",
        ),
        modalities=(("MR",),),
        body_parts=(("PROSTATE",),),
        diagnoses=("C61",),
        extra_diagnoses=(),
        female_share=0.0,
        ages=(45, 84),
        subjects=(80, 1500),
        studies_per_subject=(1.0, 2.4),
        megabytes_per_study=(80, 300),
        manufacturers=(SIEMENS, GE, PHILIPS),
        keywords=(
            "prostate cancer",
            "multiparametric MRI",
            "PI-RADS",
            "biopsy",
            "Gleason score",
            "ISUP grade group",
            "active surveillance",
            "diffusion-weighted imaging",
        ),
        annotations=(
            "Lesions carry PI-RADS v2.1 scores and the ISUP grade group of the matched biopsy.",
            "Whole-gland and lesion segmentations are provided for T2-weighted series.",
            "PSA density and biopsy outcome are recorded per examination.",
        ),
    ),
    Family(
        key="brain-glioma",
        weight=22,
        titles=(
            "Pre-operative MRI of diffuse gliomas with IDH status",
            "Glioblastoma MRI with tumour sub-region segmentations",
            "Post-treatment glioma MRI for pseudoprogression assessment",
            "Low-grade glioma longitudinal MRI",
        ),
        modalities=(("MR",),),
        body_parts=(("BRAIN",),),
        diagnoses=("C71.9", "C71.1", "C71.2", "C71.0", "C71.3"),
        extra_diagnoses=(),
        female_share=0.42,
        ages=(18, 84),
        subjects=(40, 700),
        studies_per_subject=(1.0, 4.0),
        megabytes_per_study=(100, 400),
        manufacturers=(SIEMENS, GE, PHILIPS),
        keywords=(
            "glioma",
            "glioblastoma",
            "brain tumour",
            "IDH mutation",
            "MGMT methylation",
            "tumour segmentation",
            "RANO",
            "perfusion MRI",
        ),
        annotations=(
            "Enhancing tumour, necrosis and oedema are segmented on T1c and FLAIR.",
            "IDH mutation and MGMT promoter methylation status are recorded.",
            "Response is assessed with RANO criteria at each follow-up.",
        ),
    ),
    Family(
        key="neuroblastoma",
        weight=14,
        titles=(
            "Paediatric neuroblastoma imaging at diagnosis with image-defined risk factors",
            "Neuroblastoma imaging during induction chemotherapy",
            "High-risk neuroblastoma imaging with MYCN status",
        ),
        modalities=(("MR",), ("CT",), ("MR", "CT")),
        body_parts=(("ABDOMEN",),),
        diagnoses=("C74.9",),
        extra_diagnoses=(),
        female_share=0.45,
        ages=(0, 12),
        subjects=(15, 300),
        studies_per_subject=(1.2, 4.0),
        megabytes_per_study=(90, 350),
        manufacturers=(SIEMENS, GE, PHILIPS),
        keywords=(
            "neuroblastoma",
            "paediatric oncology",
            "image-defined risk factors",
            "MYCN",
            "INRG staging",
            "tumour segmentation",
        ),
        annotations=(
            "Primary tumours are segmented and image-defined risk factors recorded.",
            "INRG stage and MYCN amplification are recorded per subject.",
        ),
        share_first=0.8,
    ),
    Family(
        key="crlm-ct",
        weight=20,
        titles=(
            "Colorectal liver metastases CT before hepatic resection",
            "CT response of colorectal liver metastases to chemotherapy",
            "Portal-venous phase CT of colorectal liver metastases with recurrence outcome",
        ),
        modalities=(("CT",),),
        body_parts=(("LIVER",), ("ABDOMEN", "LIVER")),
        diagnoses=("C78.7",),
        extra_diagnoses=("C18.7", "C18.0", "C18.9", "C20"),
        female_share=0.4,
        ages=(35, 86),
        subjects=(50, 600),
        studies_per_subject=(1.0, 2.8),
        megabytes_per_study=(200, 600),
        manufacturers=(SIEMENS, GE, PHILIPS, CANON),
        keywords=(
            "colorectal cancer",
            "liver metastases",
            "hepatectomy",
            "portal-venous phase",
            "recurrence",
            "lesion segmentation",
            "chemotherapy response",
        ),
        annotations=(
            "Liver lesions are segmented on the portal-venous phase.",
            "Three-year recurrence-free survival is recorded per subject.",
            "Response to chemotherapy is graded with RECIST 1.1.",
        ),
    ),
    Family(
        key="lymphoma-petct",
        weight=20,
        titles=(
            "Baseline FDG PET/CT in diffuse large B-cell lymphoma",
            "Interim FDG PET/CT with Deauville scores",
            "End-of-treatment PET/CT in DLBCL",
        ),
        modalities=(("PT", "CT"),),
        body_parts=(("WHOLEBODY",),),
        diagnoses=("C83.3",),
        extra_diagnoses=(),
        female_share=0.45,
        ages=(18, 85),
        subjects=(40, 900),
        studies_per_subject=(1.0, 3.0),
        megabytes_per_study=(300, 900),
        manufacturers=(SIEMENS, GE, PHILIPS),
        keywords=(
            "lymphoma",
            "DLBCL",
            "FDG PET/CT",
            "Deauville score",
            "total metabolic tumour volume",
            "Lugano classification",
        ),
        annotations=(
            "Each scan has a Deauville score; baseline scans have total metabolic tumour volume.",
            "Response follows the Lugano classification.",
        ),
        share_first=0.4,
    ),
    Family(
        key="rectal-mr",
        weight=18,
        titles=(
            "Rectal cancer staging MRI",
            "Rectal MRI before and after neoadjuvant chemoradiotherapy",
            "Watch-and-wait rectal cancer MRI follow-up",
        ),
        modalities=(("MR",),),
        body_parts=(("PELVIS",),),
        diagnoses=("C20",),
        extra_diagnoses=(),
        female_share=0.37,
        ages=(30, 85),
        subjects=(40, 500),
        studies_per_subject=(1.0, 3.0),
        megabytes_per_study=(100, 350),
        manufacturers=(SIEMENS, GE, PHILIPS),
        keywords=(
            "rectal cancer",
            "MRI",
            "neoadjuvant chemoradiotherapy",
            "tumour regression grade",
            "mesorectal fascia",
            "watch and wait",
        ),
        annotations=(
            "Tumours are segmented on T2-weighted images; mrTRG is recorded after treatment.",
            "Mesorectal fascia involvement and extramural vascular invasion are recorded.",
        ),
    ),
    Family(
        key="head-neck-ct",
        weight=24,
        titles=(
            "Oropharyngeal cancer planning CT with HPV status",
            "Head and neck cancer radiotherapy planning CT with organ-at-risk contours",
            "Nasopharyngeal carcinoma CT before induction chemotherapy",
            "Hypopharyngeal cancer contrast-enhanced CT",
        ),
        modalities=(("CT",),),
        body_parts=(("HEADNECK",),),
        diagnoses=("C10.9", "C11.9", "C12", "C13.9", "C14.0"),
        extra_diagnoses=(),
        female_share=0.25,
        ages=(30, 85),
        subjects=(40, 800),
        studies_per_subject=(1.0, 2.0),
        megabytes_per_study=(150, 450),
        manufacturers=(SIEMENS, GE, PHILIPS, CANON),
        keywords=(
            "head and neck cancer",
            "oropharynx",
            "HPV",
            "radiotherapy planning",
            "organs at risk",
            "gross tumour volume",
            "nasopharynx",
        ),
        annotations=(
            "Gross tumour volumes and organs at risk are contoured (RTSTRUCT).",
            "HPV/p16 status and locoregional control are recorded per subject.",
        ),
        share_first=0.3,
    ),
)

AUTHOR_NAMES = {
    "la-fe": (
        "Lucía Ferrer",
        "Javier Martí",
        "Carmen Soler",
        "Pablo Navarro",
        "Elena Roig",
        "Andrés Beltrán",
        "Marta Vidal",
        "Sergio Alonso",
        "Inés Cortés",
        "Raúl Gimeno",
    ),
    "int-milano": (
        "Giulia Ferri",
        "Marco Colombo",
        "Chiara Galli",
        "Luca Fontana",
        "Francesca Greco",
        "Alessandro Rinaldi",
        "Sara Moretti",
        "Davide Conti",
        "Elisa Barbieri",
        "Paolo Lombardi",
    ),
}
SHORT_NAMES = {"la-fe": "La Fe", "int-milano": "INT"}
CONTACT_NAMES = {
    "la-fe": "Imaging Biobank data access office",
    "int-milano": "Radiology research data desk",
}

INVALIDATION_REASONS = (
    "Consent withdrawn by part of the cohort; a corrected version will follow.",
    "Burned-in patient annotations found in some series during a de-identification audit.",
    "Duplicate of another collection of the same programme.",
    "Segmentation labels were exported from the wrong reader session.",
    "Withdrawn at the provider's request pending ethics re-approval.",
)

# Lifecycle plans and their share of the datasets; "released" takes what is left.
PLAN_SHARES = (
    ("draft", 0.09),
    ("published", 0.35),
    ("new_version", 0.04),
    ("new_version_published", 0.02),
    ("new_version_draft", 0.015),
    ("third_version", 0.005),
    ("invalidated", 0.025),
    ("unpublished", 0.01),
    ("reactivated", 0.01),
)


@dataclass(frozen=True)
class DemoDataset:
    """One synthetic dataset: its first version's fields and the steps it goes through.

    A step is ("release",), ("publish",), ("unpublish",), ("invalidate", reason),
    ("reactivate",) or ("new_version", changes); steps after a new version apply to it.
    """

    identifier: str
    organisation: str
    fields: dict[str, Any]
    steps: tuple[tuple[Any, ...], ...] = field(default=())


def _allocate(total: int, weights: Iterable[tuple[str, float]]) -> list[str]:
    """`total` labels in proportion to the weights (largest remainder), not yet shuffled."""
    weights = list(weights)
    norm = sum(w for _, w in weights)
    exact = [(label, total * w / norm) for label, w in weights]
    counts = {label: int(x) for label, x in exact}
    by_remainder = sorted(exact, key=lambda item: item[1] - int(item[1]), reverse=True)
    for label, _ in by_remainder[: total - sum(counts.values())]:
        counts[label] += 1
    return [label for label, _ in weights for _ in range(counts[label])]


def _plans(total: int) -> list[str]:
    plans = []
    for label, share in PLAN_SHARES:
        plans += [label] * round(total * share)
    plans = plans[:total]
    return plans + ["released"] * (total - len(plans))


def _sex_counts(rng: random.Random, family: Family, subjects: int) -> dict[str, int]:
    if family.female_share >= 1.0:  # breast: a handful of male patients in larger cohorts
        male = rng.randint(0, 3) if subjects > 800 else 0
        counts = {"female": subjects - male, "male": male}
    elif family.female_share <= 0.0:
        counts = {"male": subjects}
    else:
        unknown = rng.randint(1, max(1, subjects // 50)) if rng.random() < 0.2 else 0
        share = min(0.95, max(0.05, rng.gauss(family.female_share, 0.04)))
        female = round((subjects - unknown) * share)
        counts = {"female": female, "male": subjects - unknown - female, "unknown": unknown}
    return {sex: n for sex, n in counts.items() if n}


def _studies(rng: random.Random, code: str, count: int) -> list[dict[str, str]]:
    """A few entries of the study list: pseudonymised study UIDs with a content hash."""
    out = []
    for _ in range(count):
        uid = f"2.25.{rng.getrandbits(120)}"
        out.append({"id": uid, "sha3_256": hashlib.sha3_256(f"{code}/{uid}".encode()).hexdigest()})
    return out


def _subjects(rng: random.Random, low: int, high: int) -> int:
    """Log-uniform: many small and mid-sized cohorts, a few large ones."""
    return int(round(low * (high / low) ** rng.random()))


def _access(rng: random.Random) -> tuple[str, str, list[str]]:
    """Access rights, license and DUO terms that fit together."""
    roll = rng.random()
    if roll < 0.74:
        license_ = CC_BY_NC if rng.random() < 0.65 else CC_BY
        duo = [rng.choices((HMB, DS, GRU), weights=(45, 35, 20))[0]]
        if rng.random() < 0.6:
            duo.append(IRB)
        if license_ == CC_BY_NC:
            duo.append(NPUNCU if rng.random() < 0.7 else NCU)
        if rng.random() < 0.3:
            duo.append(PUB)
        if rng.random() < 0.15:
            duo.append(RTN)
        if rng.random() < 0.1:
            duo.append(PS)
        return "RESTRICTED", license_, duo
    if roll < 0.95:
        license_ = CC_BY if rng.random() < 0.8 else CC_BY_NC
        duo = [GRU if rng.random() < 0.7 else HMB]
        if rng.random() < 0.4:
            duo.append(PUB)
        return "PUBLIC", license_, duo
    duo = [DS, IRB, IS] + ([US] if rng.random() < 0.5 else [])
    return "NON_PUBLIC", CC_BY_NC, duo


def _title(base: str, short: str, first: int, last: int) -> str:
    return f"{base} ({short}, {first}–{last})"


def _modality_phrase(modalities: Iterable[str]) -> str:
    words = [MODALITY_WORDS.get(m, m) for m in modalities]
    return "PET/CT" if words == ["PET", "CT"] else " and ".join(words)


def _describe(
    *,
    base: str,
    org_name: str,
    modalities: list[str],
    subjects: int,
    studies: int,
    age_min: int,
    age_max: int,
    first: int,
    last: int,
    manufacturers: list[str],
    annotation: str,
) -> str:
    makers = (
        ", ".join(manufacturers[:-1])
        + (" and " if len(manufacturers) > 1 else "")
        + manufacturers[-1]
    )
    return (
        f"{base}. Retrospective collection of {studies} {_modality_phrase(modalities)} studies "
        f"from {subjects} patients aged {age_min} to {age_max} years, acquired at {org_name} "
        f"between {first} and {last} on {makers} scanners. {annotation} {HANDLING_NOTE} "
        + DEMO_NOTE
    )


def _new_version_changes(
    rng: random.Random,
    previous: dict[str, Any],
    *,
    code: str,
    org_name: str,
    family: Family,
    version: int,
) -> tuple[dict[str, Any], tuple[int, int]]:
    """The next version adds patients from later years: counts, title, description, studies.

    `previous` holds the previous version's fields plus the generator's notes
    (_base, _short, _years, _annotation); returns the changes and the new year range.
    """
    subjects = previous["number_of_subjects"]
    added = max(3, round(subjects * rng.uniform(0.06, 0.25)))
    per_subject = previous["number_of_studies"] / subjects
    new_subjects = subjects + added
    new_studies = previous["number_of_studies"] + max(added, round(added * per_subject))
    sex = dict(previous["sex_counts"])
    for key, n in _sex_counts(rng, family, added).items():
        sex[key] = sex.get(key, 0) + n
    first, last = previous["_years"]
    new_last = last + rng.randint(1, 2)
    description = _describe(
        base=previous["_base"],
        org_name=org_name,
        modalities=previous["modalities"],
        subjects=new_subjects,
        studies=new_studies,
        age_min=previous["age_min"],
        age_max=previous["age_max"],
        first=first,
        last=new_last,
        manufacturers=previous["manufacturers"],
        annotation=previous["_annotation"],
    )
    changes = {
        "title": _title(previous["_base"], previous["_short"], first, new_last),
        "description": f"Version {version} adds {added} patients imaged in {last + 1}–{new_last}. "
        + description,
        "number_of_subjects": new_subjects,
        "number_of_studies": new_studies,
        "sex_counts": sex,
        "size_bytes": previous["size_bytes"] * new_studies // previous["number_of_studies"],
        "studies": previous["studies"] + _studies(rng, f"{code}-v{version}", rng.randint(1, 2)),
    }
    return changes, (first, new_last)


def generate(
    organisations: Mapping[str, str], *, count: int = COUNT, seed: int = SEED
) -> list[DemoDataset]:
    """`count` synthetic datasets for organisations {slug: name} ("la-fe", "int-milano")."""
    slugs = list(organisations)
    rng = random.Random(seed)
    families = {f.key: f for f in FAMILIES}
    family_keys = _allocate(count, [(f.key, f.weight) for f in FAMILIES])
    plans = _plans(count)
    rng.shuffle(family_keys)
    rng.shuffle(plans)
    seen_titles: set[str] = set()
    numbers: dict[tuple[str, str], int] = {}
    out = []
    for index, (family_key, plan) in enumerate(zip(family_keys, plans, strict=True)):
        family = families[family_key]
        own = random.Random(f"{seed}:{index}")
        slug = slugs[0] if own.random() < family.share_first or len(slugs) == 1 else slugs[1]
        org_name = organisations[slug]
        short = SHORT_NAMES.get(slug, org_name)
        numbers[(slug, family.key)] = numbers.get((slug, family.key), 0) + 1
        code = f"{slug}:{family.key}-{numbers[(slug, family.key)]:03d}"

        base = own.choice(family.titles)
        first = own.randint(2008, 2018)
        last = min(2020, first + own.randint(1, 6))  # later versions add up to four years
        title = _title(base, short, first, last)
        while title in seen_titles:
            first -= 1
            title = _title(base, short, first, last)
        seen_titles.add(title)

        subjects = _subjects(own, *family.subjects)
        studies = max(subjects, round(subjects * own.uniform(*family.studies_per_subject)))
        age_min = family.ages[0] + own.randint(0, 4 if family.ages[0] else 0)
        age_max = family.ages[1] - own.randint(0, 6 if family.ages[0] else 2)
        modalities = list(own.choice(family.modalities))
        manufacturers = own.sample(
            family.manufacturers, own.randint(1, min(3, len(family.manufacturers)))
        )
        diagnoses = own.sample(family.diagnoses, own.randint(1, min(2, len(family.diagnoses))))
        if family.extra_diagnoses:
            diagnoses.append(own.choice(family.extra_diagnoses))
        access_rights, license_, duo_terms = _access(own)
        annotation = own.choice(family.annotations)
        authors = [
            {"name": name, "affiliation": org_name}
            for name in own.sample(AUTHOR_NAMES.get(slug, AUTHOR_NAMES["la-fe"]), own.randint(1, 4))
        ]
        fields = {
            "title": title,
            "description": _describe(
                base=base,
                org_name=org_name,
                modalities=modalities,
                subjects=subjects,
                studies=studies,
                age_min=age_min,
                age_max=age_max,
                first=first,
                last=last,
                manufacturers=manufacturers,
                annotation=annotation,
            ),
            "keywords": own.sample(family.keywords, own.randint(3, 5)),
            "modalities": modalities,
            "body_parts": list(own.choice(family.body_parts)),
            "diagnoses": diagnoses,
            "sex_counts": _sex_counts(own, family, subjects),
            "age_min": age_min,
            "age_max": age_max,
            "number_of_subjects": subjects,
            "number_of_studies": studies,
            "manufacturers": manufacturers,
            "size_bytes": studies * own.randint(*family.megabytes_per_study) * 1024 * 1024,
            "studies": _studies(own, code, own.randint(3, 6)),
            "license": license_,
            "access_rights": access_rights,
            "duo_terms": duo_terms,
            "authors": authors,
            "contact_name": CONTACT_NAMES.get(slug, "Imaging data desk"),
            "contact_email": f"imaging-data@{slug}.example",
        }
        notes = {"_years": (first, last), "_base": base, "_short": short, "_annotation": annotation}
        steps = _steps(own, plan, fields | notes, code=code, org_name=org_name, family=family)
        out.append(
            DemoDataset(
                identifier=IDENTIFIER_PREFIX + code,
                organisation=slug,
                fields=fields,
                steps=tuple(steps),
            )
        )
    return out


def _steps(
    rng: random.Random,
    plan: str,
    first_version: dict[str, Any],
    *,
    code: str,
    org_name: str,
    family: Family,
) -> list[tuple[Any, ...]]:
    """The lifecycle steps of one dataset under `plan` (see PLAN_SHARES)."""
    if plan == "draft":
        return []
    if plan == "released":
        return [("release",)]
    if plan == "published":
        return [("release",), ("publish",)]
    if plan == "unpublished":
        return [("release",), ("publish",), ("unpublish",)]
    if plan == "invalidated":
        start = rng.choice(([], [("release",)], [("release",), ("publish",)]))
        return [*start, ("invalidate", rng.choice(INVALIDATION_REASONS))]
    if plan == "reactivated":
        return [("release",), ("invalidate", rng.choice(INVALIDATION_REASONS)), ("reactivate",)]
    context = {"code": code, "org_name": org_name, "family": family}
    v2, years = _new_version_changes(rng, first_version, version=2, **context)
    if plan == "new_version_published":
        return [("release",), ("publish",), ("new_version", v2), ("release",), ("publish",)]
    if plan == "new_version_draft":
        return [("release",), ("publish",), ("new_version", v2)]
    steps = [("release",), ("new_version", v2), ("release",)]
    if plan == "third_version":
        v3, _ = _new_version_changes(
            rng, first_version | v2 | {"_years": years}, version=3, **context
        )
        steps += [("new_version", v3), ("release",)]
    return steps


def _play(spec: DemoDataset, organisation: Organisation, by) -> Dataset:
    """Create the dataset and take it through its steps; returns its latest version."""
    dataset = services.create_dataset(
        organisation=organisation, by=by, identifier=spec.identifier, **spec.fields
    )
    for verb, *args in spec.steps:
        if verb == "release":
            dataset = services.release_dataset(dataset=dataset, by=by)
        elif verb == "publish":
            dataset = services.publish_dataset(dataset=dataset, by=by)
        elif verb == "unpublish":
            dataset = services.unpublish_dataset(dataset=dataset, by=by)
        elif verb == "invalidate":
            dataset = services.invalidate_dataset(dataset=dataset, by=by, reason=args[0])
        elif verb == "reactivate":
            dataset = services.reactivate_dataset(dataset=dataset, by=by)
        elif verb == "new_version":
            dataset = services.create_new_version(dataset=dataset, by=by)
            dataset = services.update_dataset(dataset=dataset, by=by, **args[0])
        else:
            raise ValueError(f"unknown demo step {verb!r}")
    return dataset


def load(
    specs: Iterable[DemoDataset],
    *,
    organisations: Mapping[str, Organisation],
    providers: Mapping[str, Any],
    progress: Callable[[int, int, int], None] | None = None,
    every: int = 50,
) -> int:
    """Create the datasets whose identifier the organisation does not have yet.

    Each dataset is played as its provider (`providers` {slug: user}); returns
    how many were created. `progress(done, total, created)` is called every
    `every` datasets and at the end.
    """
    specs = list(specs)
    existing = set(
        Dataset.objects.filter(
            organisation__in=list(organisations.values()), identifier__startswith=IDENTIFIER_PREFIX
        ).values_list("identifier", flat=True)
    )
    created = 0
    with transaction.atomic():
        for done, spec in enumerate(specs, start=1):
            if spec.identifier not in existing:
                _play(spec, organisations[spec.organisation], providers[spec.organisation])
                created += 1
            if progress and (done % every == 0 or done == len(specs)):
                progress(done, len(specs), created)
    return created


def delete(organisations: Iterable[Organisation]) -> int:
    """Remove every dataset of these (demo) organisations, with their facets and history.

    Returns how many dataset rows (versions included) were deleted.
    """
    datasets = Dataset.objects.filter(organisation__in=list(organisations))
    with transaction.atomic():
        # Versions point at their predecessor with PROTECT; unlink them so all can go at once.
        datasets.exclude(previous_version=None).update(previous_version=None)
        _, per_model = datasets.delete()
    return per_model.get(Dataset._meta.label, 0)
