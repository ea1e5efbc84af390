#!/usr/bin/env python
"""Catalogue search on PostgreSQL: the code the API runs against a naive baseline.

    python bench/search.py            # 10,000 then 100,000 datasets, 200 queries (~6 minutes)
    python bench/search.py --quick    # 2,000 then 20,000 datasets, 40 queries (under a minute)

The script makes its own throwaway database `agora_bench` (on the server named
by DATABASE_URL, else postgres://postgres@127.0.0.1:5432, else on a PostgreSQL
cluster it starts in var/bench/), migrates it, loads synthetic cancer-imaging
datasets with COPY, and times the same queries two ways:

- ours: catalogue.search.parse_search + catalogue.selectors.search_datasets, as
  the search API calls them, for a signed-in researcher, with facet counts;
- baseline: plain ORM filters with icontains on the text and on the JSON list
  fields, and one COUNT query per facet value for the facet counts.

It checks that both give the same totals and facet counts, prints p50/p95 per
size and ends with one `TARGET ...` line per goal. See bench/README.md.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import re
import shutil
import socket
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import reduce
from operator import or_
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlencode, urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.databases import throwaway_database  # noqa: E402
from tests.services import start_cluster, stop_cluster  # noqa: E402

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

    from catalogue.models import Dataset
    from hub.models import Organisation

DEFAULT_SERVER = "postgres://postgres@127.0.0.1:5432/postgres"
BENCH_DATABASE = "agora_bench"
CLUSTER_DIR = ROOT / "var" / "bench" / "pg"
MAX_SHARE = 0.01  # a selective query matches at most 1% of the catalogue
PAGE_SIZE = 20
SEED = 20240611


# --- the synthetic catalogue ---------------------------------------------------------


@dataclass(frozen=True)
class Theme:
    noun: str
    disease: str
    weight: int
    modalities: tuple[str, ...]
    body_parts: tuple[str, ...]
    diagnoses: tuple[str, ...]
    terms: tuple[str, ...]  # common within the theme
    rare: tuple[str, ...]  # each in roughly 1-2% of the catalogue


THEMES = (
    Theme("lung", "lung cancer", 16, ("CT", "PT", "CR"), ("CHEST", "LUNG"),
          ("C34.1", "C34.3", "C34.9", "C78.0"), ("pulmonary", "thoracic", "nodule"),
          ("egfr", "kras", "ros1", "pdl1", "nsclc", "lungrads", "osimertinib", "spiculated",
           "emphysema")),
    Theme("breast", "breast cancer", 14, ("MG", "MR", "US"), ("BREAST",),
          ("C50.4", "C50.9", "D05.1"), ("mammography", "ductal", "lobular"),
          ("her2", "brca1", "brca2", "birads", "trastuzumab", "tomosynthesis", "mastectomy",
           "lumpectomy", "microcalcification")),
    Theme("brain", "brain tumours", 9, ("MR", "CT"), ("BRAIN", "HEAD"),
          ("C71.1", "C71.9", "D33.2", "C79.3"), ("cerebral", "intracranial"),
          ("idh1", "mgmt", "glioblastoma", "meningioma", "astrocytoma", "temozolomide",
           "codeletion", "tractography")),
    Theme("prostate", "prostate cancer", 10, ("MR", "US", "PT"), ("PROSTATE", "PELVIS"),
          ("C61",), ("prostatic", "biopsy"),
          ("pirads", "gleason", "psma", "prostatectomy", "enzalutamide", "abiraterone",
           "brachytherapy", "transperineal")),
    Theme("colorectal", "colorectal cancer", 9, ("CT", "MR"), ("COLON", "RECTUM", "ABDOMEN"),
          ("C18.7", "C18.9", "C20", "C78.7"), ("bowel", "rectal"),
          ("folfox", "cetuximab", "colonoscopy", "mesorectal", "lynch", "bevacizumab",
           "polyposis")),
    Theme("liver", "liver cancer", 6, ("CT", "MR"), ("LIVER", "ABDOMEN"),
          ("C22.0", "C22.1", "C78.7"), ("hepatic",),
          ("lirads", "sorafenib", "cirrhosis", "tace", "hepatocellular", "cholangiocarcinoma",
           "atezolizumab")),
    Theme("head and neck", "head and neck cancer", 7, ("CT", "PT", "MR"), ("HEADNECK", "NECK"),
          ("C32.9", "C10.9", "C01", "C11.9"), ("laryngeal", "mucosal"),
          ("hpv", "oropharyngeal", "nasopharyngeal", "xerostomia", "parotid", "tonsillar")),
    Theme("kidney", "kidney cancer", 5, ("CT", "MR"), ("KIDNEY", "ABDOMEN"), ("C64",),
          ("renal",),
          ("ccrcc", "vhl", "nephrectomy", "sunitinib", "chromophobe", "angiomyolipoma")),
    Theme("lymphoma", "lymphoma", 6, ("PT", "CT"), ("WHOLEBODY",), ("C83.3", "C81.9", "C82.9"),
          ("lymphatic", "nodal"),
          ("dlbcl", "hodgkin", "deauville", "rituximab", "suvmax", "mtv")),
    Theme("pancreas", "pancreatic cancer", 5, ("CT", "MR"), ("PANCREAS", "ABDOMEN"),
          ("C25.0", "C25.9"), ("pancreatic",),
          ("pdac", "ipmn", "whipple", "folfirinox", "gemcitabine", "resectability")),
    Theme("melanoma", "melanoma", 4, ("SM", "PT", "CT"), ("SKIN", "WHOLEBODY"),
          ("C43.9", "C43.5"), ("cutaneous", "dermatology"),
          ("dermoscopy", "ipilimumab", "breslow", "vemurafenib", "naevus", "sentinel")),
    Theme("gynaecological", "gynaecological cancer", 6, ("MR", "CT", "US"),
          ("PELVIS", "UTERUS", "OVARY"), ("C53.9", "C54.1", "C56"), ("cervical", "ovarian"),
          ("figo", "olaparib", "hysterectomy", "colposcopy", "chemoradiation", "paclitaxel")),
)  # fmt: skip
EXTRA_MODALITIES = ("SEG", "RTSTRUCT", "DX", "NM", "OT")
MODALITY_WORDS = {
    "CT": "CT",
    "MR": "MRI",
    "PT": "PET",
    "CR": "radiography",
    "MG": "mammograms",
    "US": "ultrasound",
    "SM": "whole-slide",
}
DUO_TERMS = ("DUO:0000042", "DUO:0000006", "DUO:0000007", "DUO:0000019", "DUO:0000046")
ORGANISATIONS = (  # slug, name, country, weight
    ("amsterdam-umc", "Amsterdam UMC", "NL", 14), ("charite", "Charite Berlin", "DE", 12),
    ("karolinska", "Karolinska Institutet", "SE", 9), ("gustave-roussy", "Gustave Roussy", "FR", 11),
    ("vall-hebron", "Vall d'Hebron", "ES", 7), ("uz-leuven", "UZ Leuven", "BE", 6),
    ("oslo-uh", "Oslo University Hospital", "NO", 4), ("ieo-milano", "IEO Milano", "IT", 8),
)  # fmt: skip
TITLE_OPENERS = (
    "Retrospective",
    "Prospective",
    "Multicentre",
    "Longitudinal",
    "Annotated",
    "Screening",
    "Curated",
    "Paediatric",
    "Open",
    "Baseline",
)
COLLECTIONS = ("cohort", "collection", "archive", "registry", "trial", "series", "dataset")
FILLER = (
    "imaging study patients cohort retrospective prospective acquired scans annotated clinical "
    "data series baseline treatment response contrast enhanced multicentre collection "
    "segmentation tumour lesion staging outcome survival histology pathology radiology reports "
    "scanner protocol volumetric longitudinal diagnostic screening therapy images expert manual "
    "automated labels delineation consensus readers trial registry hospital centre anonymised "
    "dicom metadata acquisition resolution slice thickness reconstruction kernel dose "
    "radiotherapy chemotherapy surgery recurrence progression grade invasive primary "
    "metastatic biomarker genomic molecular vendor field strength sequence weighted diffusion"
).split()
TOKEN = re.compile(r"[a-z0-9]+")


@dataclass
class Record:
    """One generated dataset: the model instance, its facet rows, and what a query can use."""

    dataset: Dataset
    facets: frozenset[tuple[str, str]]
    visible: bool
    theme: Theme
    words: frozenset[str]  # lower-case tokens of title, description and keywords
    rare: tuple[str, ...]


def generate(n: int, organisations: list[Organisation], rng: random.Random) -> list[Record]:
    from catalogue.facets import facet_keys, facet_values
    from catalogue.models import AccessRights, Dataset

    state_choices = (
        Dataset.State.PUBLISHED,
        Dataset.State.RELEASED,
        Dataset.State.DRAFT,
        Dataset.State.INVALIDATED,
    )
    access_rights = (AccessRights.PUBLIC, AccessRights.RESTRICTED, AccessRights.NON_PUBLIC)
    now = datetime.now(UTC)
    org_weights = [w for *_, w in ORGANISATIONS]
    theme_weights = [t.weight for t in THEMES]
    all_rare = [w for t in THEMES for w in t.rare]
    records = []
    for _ in range(n):
        theme = rng.choices(THEMES, theme_weights)[0]
        org = rng.choices(organisations, org_weights)[0]
        modalities = rng.sample(theme.modalities, rng.randint(1, min(2, len(theme.modalities))))
        if rng.random() < 0.15:
            modalities.append(rng.choice(EXTRA_MODALITIES))
        body_parts = rng.sample(theme.body_parts, rng.randint(1, len(theme.body_parts)))
        diagnoses = rng.sample(theme.diagnoses, rng.randint(1, min(2, len(theme.diagnoses))))
        if rng.random() < 0.1:
            diagnoses = []
        rare = rng.sample(theme.rare, 2)
        if rng.random() < 0.1:
            rare.append(rng.choice(all_rare))
        terms = rng.sample(theme.terms, rng.randint(1, len(theme.terms)))
        mod_words = [MODALITY_WORDS.get(m, m.lower()) for m in modalities]
        subjects = int(rng.lognormvariate(4.5, 1.3)) + 1
        title = f"{rng.choice(TITLE_OPENERS)} {theme.noun} {mod_words[0]} {rng.choice(COLLECTIONS)}"
        if rng.random() < 0.4:
            title += f" {rare[0]}"
        body = rng.choices(FILLER, k=rng.randint(25, 45)) + terms + rare[1:]
        rng.shuffle(body)
        description = (
            f"{subjects} patients with {theme.disease} imaged with {' and '.join(mod_words)} "
            f"at {org.name}. {' '.join(body)}."
        )
        keywords = [theme.disease, rare[0], *rng.sample(terms, 1)]
        state = rng.choices(state_choices, (60, 35, 3, 2))[0]
        sexes = {"female": rng.randint(0, subjects), "male": 0, "unknown": 0}
        sexes["male"] = subjects - sexes["female"]
        if theme.noun == "breast" or theme.noun == "gynaecological":
            sexes = {"female": subjects}
        elif theme.noun == "prostate":
            sexes = {"male": subjects}
        elif rng.random() < 0.05:
            sexes["unknown"] = rng.randint(1, 5)
        age_min = rng.randint(0, 17) if rng.random() < 0.05 else rng.randint(18, 65)
        released = now - timedelta(days=rng.randint(1, 2000))
        dataset = Dataset(
            organisation=org,
            identifier=f"bench-{len(records)}",
            title=title,
            description=description,
            keywords=keywords,
            license="https://creativecommons.org/licenses/by/4.0/",
            contact_name="Data steward",
            contact_email=f"data@{org.slug}.example.org",
            authors=[org.name],
            access_rights=rng.choices(access_rights, (30, 60, 10))[0],
            duo_terms=rng.sample(DUO_TERMS, rng.randint(0, 2)),
            number_of_subjects=subjects,
            number_of_studies=subjects * rng.randint(1, 3),
            modalities=modalities,
            body_parts=body_parts,
            diagnoses=diagnoses,
            sex_counts=sexes,
            age_min=age_min,
            age_max=min(105, age_min + rng.randint(5, 50)),
            size_bytes=subjects * rng.randint(50, 900) * 2**20,
            state=state,
            state_before_invalidation=Dataset.State.RELEASED if state == "invalidated" else "",
            released_at=None if state == "draft" else released,
            published_at=released + timedelta(days=3) if state == "published" else None,
        )
        words = TOKEN.findall(f"{title} {description} {' '.join(keywords)}".lower())
        rows = facet_values(dataset)
        dataset.facet_keys = facet_keys(dataset)
        records.append(
            Record(
                dataset,
                frozenset(rows),
                state in ("released", "published"),
                theme,
                frozenset(words),
                tuple(rare),
            )
        )
    return records


def vocabulary() -> set[str]:
    """Every token the generator can write into title, description or keywords."""
    text = " ".join(
        [*FILLER, *TITLE_OPENERS, *COLLECTIONS, *MODALITY_WORDS.values(), *EXTRA_MODALITIES]
        + [" ".join((t.noun, t.disease, *t.terms, *t.rare)) for t in THEMES]
        + [name for _, name, *_ in ORGANISATIONS]
        + ["patients with imaged and at"]
    )
    return set(TOKEN.findall(text.lower()))


def queryable_words(candidates: set[str]) -> set[str]:
    """Words on which full-text search and substring search must agree.

    A word qualifies when it is no part of another word the generator writes
    (so icontains finds only it) and no other such word stems to the same lexeme
    (so the tsvector finds only it).
    """
    from django.db import connection

    vocab = sorted(vocabulary())
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT w, to_tsvector('english', w)::text FROM unnest(%s::text[]) AS w", [vocab]
        )
        lexemes = {w: v for w, v in cursor.fetchall()}
    out = set()
    for word in candidates:
        if not lexemes[word] or lexemes[word].count("'") != 2:
            continue  # a stop word, or one the parser splits
        if any(word in other for other in vocab if other != word):
            continue
        if any(lexemes[other] == lexemes[word] for other in vocab if other != word):
            continue
        out.add(word)
    return out


# --- queries -------------------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    text: str
    filters: tuple[tuple[str, str], ...]  # (facet, value); one value per facet

    def querystring(self) -> str:
        return urlencode(([("q", self.text)] if self.text else []) + list(self.filters))

    def __str__(self) -> str:
        return self.querystring()


class Index:
    """What each query should match, straight from the generator, to choose queries by size."""

    def __init__(self, records: list[Record], words: set[str]):
        self.by_key: dict[object, set[int]] = defaultdict(set)
        for i, record in enumerate(records):
            if not record.visible:
                continue
            for word in record.words & words:
                self.by_key[word].add(i)
            for row in record.facets:
                self.by_key[row].add(i)

    def matches(self, query: Query, size: int) -> int:
        keys = [*query.text.split(), *query.filters]
        hits = reduce(set.intersection, (self.by_key.get(k, set()) for k in keys))
        return sum(1 for i in hits if i < size)


SELECTIVE_FACETS = ("modality", "body_part", "diagnosis", "provider", "access_rights", "sex", "duo")


def selective_queries(
    records: list[Record],
    index: Index,
    sizes: tuple[int, int],
    n: int,
    words: set[str],
    rng: random.Random,
) -> list[Query]:
    """n queries (text + three facets) made from real datasets, each at most 1% of both sizes."""
    seeds = [r for r in records[: sizes[0]] if r.visible and set(r.rare) & words]
    chosen: dict[Query, None] = {}
    for _ in range(n * 200):
        if len(chosen) == n:
            break
        seed = rng.choice(seeds)
        values = defaultdict(list)
        for facet, value in sorted(seed.facets):
            values[facet].append(value)
        if rng.random() < 0.6 and values["diagnosis"]:
            facets = ["modality", "body_part", "diagnosis"]
        else:
            facets = rng.sample([f for f in SELECTIVE_FACETS if values[f]], 3)
        text = rng.choice(sorted(set(seed.rare) & words))
        extra = sorted(seed.words & words & set(seed.theme.terms))
        if extra and rng.random() < 0.25:
            text += " " + rng.choice(extra)
        query = Query(text, tuple((f, rng.choice(values[f])) for f in facets))
        if all(1 <= index.matches(query, size) <= MAX_SHARE * size for size in sizes):
            chosen[query] = None
    if len(chosen) < n:
        raise SystemExit(f"could only make {len(chosen)} selective queries of {n}")
    return list(chosen)


BROAD_QUERIES = (
    Query("", (("modality", "CT"),)),
    Query("", (("access_rights", "RESTRICTED"),)),
    Query("", (("body_part", "ABDOMEN"),)),
    Query("", (("provider", "amsterdam-umc"),)),
    Query("", (("sex", "female"),)),
    Query("", (("diagnosis", "C34"),)),
    Query("", (("modality", "MR"),)),
    Query("", (("duo", "DUO:0000042"),)),
    Query("", (("body_part", "CHEST"),)),
    Query("", (("provider", "ieo-milano"),)),
    Query("", (("modality", "PT"),)),
    Query("", (("sex", "male"),)),
)


# --- the two ways of searching -------------------------------------------------------

Answer = tuple[int, dict[tuple[str, str], int]]  # total, non-zero facet counts


def ours(user: AbstractBaseUser) -> Callable[[Query], Answer]:
    from django.conf import settings
    from django.http import QueryDict

    from catalogue.search import parse_search
    from catalogue.selectors import search_datasets
    from hub.roles import forget_roles

    def run(query: Query) -> Answer:
        forget_roles(user)  # each API request loads the caller's roles afresh
        params = parse_search(
            QueryDict(query.querystring()),
            default_page_size=settings.CATALOGUE_PAGE_SIZE,
            max_page_size=settings.CATALOGUE_MAX_PAGE_SIZE,
        )
        result = search_datasets(user, params)
        counts = {(f, c.value): c.count for f, cs in result.facets.items() for c in cs if c.count}
        return result.total, counts

    return run


def baseline(organisations: list[Organisation]) -> Callable[[Query], Answer]:
    """Unindexed substring filters, and a COUNT per facet value, as a first version would."""
    from django.db.models import Q

    from catalogue.facets import SEXES, SUBJECT_THRESHOLDS, age_buckets, diagnosis_values
    from catalogue.models import AccessRights, Dataset

    def element(field_name: str, value: str, prefix: bool = False) -> Q:
        # JSON text of a list: an exact element is the value within quotes.
        return Q(**{f"{field_name}__icontains": f'"{value}' + ("" if prefix else '"')})

    def age(bucket: str) -> Q:
        start = int(bucket.split("-")[0].rstrip("+"))
        if bucket.endswith("+"):
            return Q(age_max__gte=start)
        return Q(age_min__lte=start + 9, age_max__gte=start)

    condition = {
        "modality": lambda v: element("modalities", v),
        "body_part": lambda v: element("body_parts", v),
        "diagnosis": lambda v: element("diagnoses", v, prefix="." not in v),
        "sex": lambda v: Q(**{f"sex_counts__{v}__gt": 0}),
        "provider": lambda v: Q(organisation__slug=v),
        "access_rights": lambda v: Q(access_rights=v),
        "duo": lambda v: element("duo_terms", v),
        "age": age,
    }
    known = {
        "modality": sorted({m for t in THEMES for m in t.modalities} | set(EXTRA_MODALITIES)),
        "body_part": sorted({b for t in THEMES for b in t.body_parts}),
        "diagnosis": sorted(diagnosis_values([d for t in THEMES for d in t.diagnoses])),
        "sex": list(SEXES),
        "provider": [o.slug for o in organisations],
        "access_rights": list(AccessRights.values),
        "duo": list(DUO_TERMS),
        "age": age_buckets(0, 100),
    }

    def run(query: Query) -> Answer:
        qs = Dataset.objects.filter(state__in=[Dataset.State.RELEASED, Dataset.State.PUBLISHED])
        for word in query.text.split():
            qs = qs.filter(
                Q(title__icontains=word)
                | Q(description__icontains=word)
                | Q(keywords__icontains=word)
            )
        by_facet = defaultdict(list)
        for facet, value in query.filters:
            by_facet[facet].append(value)
        for facet, values in by_facet.items():
            qs = qs.filter(reduce(or_, (condition[facet](v) for v in values)))
        total = qs.count()
        list(qs.select_related("organisation").order_by("title", "id")[:PAGE_SIZE])
        counts = {}
        for facet, values in known.items():
            for value in values:
                if n := qs.filter(condition[facet](value)).count():
                    counts[facet, value] = n
        for threshold in SUBJECT_THRESHOLDS:
            if n := qs.filter(number_of_subjects__gte=threshold).count():
                counts["min_subjects", str(threshold)] = n
        return total, counts

    return run


# --- measuring -----------------------------------------------------------------------


@dataclass
class Timing:
    ms: list[float] = field(default_factory=list)
    answers: list[Answer] = field(default_factory=list)

    def p(self, q: float) -> float:
        data = sorted(self.ms)
        k = (len(data) - 1) * q
        low, high = math.floor(k), math.ceil(k)
        return data[low] + (data[high] - data[low]) * (k - low)


def timed(run: Callable[[Query], Answer], queries: list[Query], repeat: int, warm: int) -> Timing:
    """Each query's median time over `repeat` runs, after untimed runs of the first `warm`."""
    for query in queries[:warm]:
        run(query)
    timing = Timing()
    for query in queries:
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            answer = run(query)
            times.append((time.perf_counter() - start) * 1000)
        timing.ms.append(statistics.median(times))
        timing.answers.append(answer)
    return timing


def sample(n: int, k: int) -> list[int]:
    """k indices spread evenly over range(n)."""
    k = min(n, k)
    return [i * n // k for i in range(k)]


@dataclass
class Round:
    size: int
    ours: Timing  # every selective query
    base: Timing  # the sampled ones
    sampled: list[int]
    broad_ours: Timing
    broad_base: Timing  # the first len(broad_base.ms) broad queries
    expected: list[int]


def measure(
    size: int,
    user: AbstractBaseUser,
    organisations: list[Organisation],
    selective: list[Query],
    broad: list[Query],
    expected: list[int],
    args: argparse.Namespace,
) -> Round:
    run_ours, run_base = ours(user), baseline(organisations)
    log(f"  ours on {len(selective)} selective queries, median of {args.repeat} runs each")
    o = timed(run_ours, selective, args.repeat, warm=10)
    sampled = sample(len(selective), args.baseline_queries)
    log(f"  baseline on {len(sampled)} of them, once each")
    b = timed(run_base, [selective[i] for i in sampled], 1, warm=0)
    n_broad = 1 if args.quick else 3
    log(f"  ours on {len(broad)} broad queries, baseline on {n_broad}")
    bo = timed(run_ours, broad, args.repeat, warm=2)
    bb = timed(run_base, broad[:n_broad], 1, warm=0)
    return Round(size, o, b, sampled, bo, bb, expected)


# --- the database --------------------------------------------------------------------


STARTED = time.monotonic()


def log(message: str) -> None:
    print(f"[{time.monotonic() - STARTED:4.0f} s] {message}", file=sys.stderr, flush=True)


def listening(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5432), 1):
            return True
    except OSError:
        return False


@contextmanager
def server() -> Iterator[str]:
    """A PostgreSQL server URL: DATABASE_URL's, the local default, or a throwaway cluster."""
    given = os.environ.get("DATABASE_URL", "")
    if given.startswith(("postgres://", "postgresql://")):
        yield given
        return
    if listening(DEFAULT_SERVER):
        yield DEFAULT_SERVER
        return
    log("no PostgreSQL at 127.0.0.1:5432; starting a throwaway cluster in var/bench/pg")
    port = start_cluster(CLUSTER_DIR)
    try:
        yield f"postgres://postgres@127.0.0.1:{port}/postgres"
    finally:
        stop_cluster(CLUSTER_DIR)
        shutil.rmtree(CLUSTER_DIR, ignore_errors=True)


@contextmanager
def bench_database(url: str, keep: bool) -> Iterator[str]:
    """Our own database on that server, whatever DATABASE_URL's own database is."""
    with throwaway_database(url, BENCH_DATABASE, keep=keep, log=log) as db_url:
        yield db_url


def load(records: list[Record]) -> None:
    """COPY the datasets (facet keys included), then VACUUM ANALYZE as autovacuum would."""
    from django.db import connection

    from catalogue.models import Dataset

    fields = Dataset._meta.concrete_fields
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    with connection.cursor() as cursor:
        raw = cursor.cursor
        with raw.copy(f"COPY {Dataset._meta.db_table} ({columns}) FROM STDIN") as copy:
            for record in records:
                obj = record.dataset
                copy.write_row(
                    [f.get_db_prep_save(f.pre_save(obj, True), connection) for f in fields]
                )
        cursor.execute(f"VACUUM ANALYZE {Dataset._meta.db_table}")


def setup_django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ["DJANGO_SETTINGS_MODULE"] = "hub.settings"
    os.environ.pop("DJANGO_DEBUG", None)  # DEBUG would keep every query in memory
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


# --- the report ----------------------------------------------------------------------


def agreement(r: Round) -> tuple[str, int]:
    """A line on how far the two engines (and the generator) agree, and how many answers differ."""
    pairs = [(r.ours.answers[i], r.base.answers[j]) for j, i in enumerate(r.sampled)]
    broad = list(zip(r.broad_ours.answers, r.broad_base.answers, strict=False))
    generator = sum(a[0] == e for a, e in zip(r.ours.answers, r.expected, strict=True))

    def same(part: int, pairs: list) -> str:
        return f"{sum(a[part] == b[part] for a, b in pairs)}/{len(pairs)}"

    line = (
        f"{r.size:>9,}: selective totals {same(0, pairs)}, facet counts {same(1, pairs)}; "
        f"broad totals {same(0, broad)}, facet counts {same(1, broad)}; "
        f"ours vs generator {generator}/{len(r.expected)} totals"
    )
    differ = sum(a != b for a, b in pairs + broad) + len(r.expected) - generator
    return line, differ


def report(rounds: list[Round], quick: bool, n_selective: int, n_broad: int, server: str) -> None:
    small, large = rounds
    print()
    print(f"{server}; whole run {time.monotonic() - STARTED:.0f} s")
    print(
        f"Catalogue search on PostgreSQL: {n_selective} selective queries (text + 3 facets, "
        f"each <= {MAX_SHARE:.0%} of the catalogue) and {n_broad} broad ones (one facet, no "
        "text), all with exact facet counts. Ours: median of repeated runs per query; "
        f"baseline: one run of {len(small.base.ms)} selective and {len(small.broad_base.ms)} "
        "broad queries spread over the same list."
    )
    print()
    header = (
        f"{'queries':<10}{'datasets':>9}  {'engine':<9}{'runs':>5}{'p50 ms':>10}"
        f"{'p95 ms':>10}{'base/ours p95':>15}{'matches p50':>13}{'max':>7}"
    )
    print(header)
    print("-" * len(header))
    for kind in ("selective", "broad"):
        for r in rounds:
            mine, base = (r.ours, r.base) if kind == "selective" else (r.broad_ours, r.broad_base)
            totals = [a[0] for a in mine.answers]
            print(
                f"{kind:<10}{r.size:>9,}  {'ours':<9}{len(mine.ms):>5}{mine.p(0.5):>10.1f}"
                f"{mine.p(0.95):>10.1f}{'':>15}{statistics.median(totals):>13,.0f}"
                f"{max(totals):>7,}"
            )
            print(
                f"{'':<10}{'':>9}  {'baseline':<9}{len(base.ms):>5}{base.p(0.5):>10.1f}"
                f"{base.p(0.95):>10.1f}{base.p(0.95) / mine.p(0.95):>15.1f}"
            )
    print()
    print("Agreement, ours vs baseline on the same queries (and ours vs the generator):")
    differ = 0
    for r in rounds:
        line, n = agreement(r)
        differ += n
        print("  " + line)
    worst = max(max(a[0] for a in r.ours.answers) / r.size for r in rounds)
    print(f"  differing answers: {differ}; largest selective match: {worst:.2%} of the catalogue")
    slowest = min(b / large.ours.ms[i] for b, i in zip(large.base.ms, large.sampled, strict=True))
    print(
        f"  at {large.size:,}: every sampled query is at least {slowest:.0f}x faster than "
        "its baseline run"
    )
    print()
    growth_broad = large.broad_ours.p(0.95) / small.broad_ours.p(0.95)
    print(
        f"Broad queries, no goal: ours p95 grows {growth_broad:.1f}x from {small.size:,} to "
        f"{large.size:,} datasets; exact facet counts read every match."
    )
    if quick:
        print(
            f"# --quick: measured at {small.size:,} and {large.size:,} datasets, "
            "not at the sizes the target names say"
        )
    speedup = large.base.p(0.95) / large.ours.p(0.95)
    growth = large.ours.p(0.95) / small.ours.p(0.95)
    print(f"TARGET name=search_p95_speedup_100k measured={speedup:.1f} goal=>=10 unit=ratio")
    print(f"TARGET name=search_p95_growth_10k_to_100k measured={growth:.2f} goal=<=2 unit=ratio")


# --- main ----------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2k/20k datasets, 40 queries")
    parser.add_argument("--queries", type=int, help="selective queries (default 200, quick 40)")
    parser.add_argument(
        "--baseline-queries",
        type=int,
        help="how many of them also run through the baseline (default 20, quick 6; all = slow)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs of each query through ours")
    parser.add_argument("--keep", action="store_true", help="keep the agora_bench database")
    args = parser.parse_args()
    args.baseline_queries = args.baseline_queries or (6 if args.quick else 20)
    sizes = (2_000, 20_000) if args.quick else (10_000, 100_000)
    n_selective = args.queries or (40 if args.quick else 200)
    broad = list(BROAD_QUERIES[: 6 if args.quick else len(BROAD_QUERIES)])

    with server() as url, bench_database(url, args.keep) as db_url:
        setup_django(db_url)
        from django.contrib.auth import get_user_model
        from django.db import connection

        from hub.models import Organisation, Role, RoleAssignment

        log(f"database {BENCH_DATABASE} on {urlsplit(db_url).netloc}, migrated")
        organisations = [
            Organisation.objects.create(slug=slug, name=name, country=country)
            for slug, name, country, _ in ORGANISATIONS
        ]
        user = get_user_model().objects.create_user(username="bench-researcher")
        RoleAssignment.objects.create(user=user, role=Role.RESEARCHER)

        rng = random.Random(SEED)
        log(f"generating {sizes[1]:,} datasets")
        records = generate(sizes[1], organisations, rng)
        candidates = {w for t in THEMES for w in (*t.rare, *t.terms)}
        words = queryable_words(candidates)
        log(f"{len(words)} of {len(candidates)} query words mean the same to both searches")
        index = Index(records, words)
        selective = selective_queries(records, index, sizes, n_selective, words, rng)

        rounds, loaded = [], 0
        for size in sizes:
            log(f"loading datasets {loaded + 1:,}..{size:,}")
            load(records[loaded:size])
            loaded = size
            log(f"measuring at {size:,} datasets")
            expected = [index.matches(q, size) for q in selective]
            rounds.append(measure(size, user, organisations, selective, broad, expected, args))
        with connection.cursor() as cursor:
            cursor.execute("SELECT version(), current_setting('shared_buffers')")
            version, buffers = cursor.fetchone()

    log("done")
    server_line = f"{version.split(',')[0]}, shared_buffers {buffers}"
    report(rounds, args.quick, n_selective, len(broad), server_line)


if __name__ == "__main__":
    main()
