"""describe: aggregates only, DCAT the hub's own validator accepts, MIABIS the hub reads.

The lakes here are real: instances written by Lake.store (and, in one test, pydicom's
bundled CT de-identified by deid.deidentify), described from the lake's index.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid
from rdflib import RDF, Graph, Namespace, URIRef

from hyperontology import miabis_to_dcat, normalise, validate
from node_adapter.describe import (
    FORMATS,
    HYDRA,
    K_ANONYMITY,
    describe,
    describe_all,
    to_miabis,
    to_rdf,
)
from node_adapter.lake import Lake

DCAT = Namespace("http://www.w3.org/ns/dcat#")  # plain: pytest probes module attributes

BASE = "https://node.example"
SITE = "hospital-x"
RDFLIB_FORMATS = {"ttl": "turtle", "jsonld": "json-ld", "rdf": "xml", "nt": "nt"}


@dataclass(frozen=True)
class Item:
    """What Lake.store takes (deid.Deidentified's fields it reads)."""

    dataset: Dataset
    subject: str
    study_uid: str
    series_uid: str
    sop_instance_uid: str


def instance(
    subject: str,
    study: str,
    series: str,
    *,
    modality: str = "CT",
    body_part: str = "CHEST",
    sex: str = "F",
    age: int | None = 50,
    date: str = "20240315",
    manufacturer: str = "ACME Imaging",
) -> Item:
    sop = generate_uid(prefix="2.25.")
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = sop
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = sop
    ds.StudyInstanceUID = study
    ds.SeriesInstanceUID = series
    ds.PatientID = subject
    ds.Modality = modality
    ds.BodyPartExamined = body_part
    ds.PatientSex = sex
    if age is not None:
        ds.PatientAge = f"{age:03d}Y"
    ds.StudyDate = date
    ds.Manufacturer = manufacturer
    return Item(ds, subject, study, series, sop)


@dataclass
class Built:
    lake: Lake
    studies: list[tuple[str, str]]
    secrets: set[str]  # every per-patient value the lake holds: must never be published
    dates: set[str]


def build_lake(
    root: Path,
    *,
    subjects: int = 6,
    sexes: str = "FFFFFM",
    ages: tuple[int | None, ...] = (23, 34, 47, 58, 66, 93),
    dataset: str = "lung-ct",
) -> Built:
    """`subjects` subjects, one CT study each (two series, two instances each), the first
    subject with a second MR study; published as `dataset` v1."""
    lake = Lake(root)
    studies, secrets, dates = [], set(), set()
    for n in range(subjects):
        subject = f"sub-{n:016x}"
        for s, modality in enumerate(("CT", "MR")[: 2 if n == 0 else 1]):
            study = generate_uid(prefix="2.25.")
            date = f"2023{(n % 12) + 1:02d}{10 + s:02d}"
            for _series in range(2 if modality == "CT" else 1):
                series = generate_uid(prefix="2.25.")
                for _ in range(2):
                    item = instance(
                        subject,
                        study,
                        series,
                        modality=modality,
                        body_part="CHEST" if modality == "CT" else "HEAD",
                        sex=sexes[n % len(sexes)],
                        age=ages[n % len(ages)],
                        date=date,
                        manufacturer="ACME Imaging" if modality == "CT" else "Magnetix",
                    )
                    stored = lake.store(item)
                    secrets |= {subject, study, series, stored.sop, stored.relative_path}
                    secrets.add(stored.sha3_256)
            studies.append((subject, study))
            dates |= {date, f"{date[:4]}-{date[4:6]}-{date[6:]}"}
    manifest = lake.publish_dataset(
        dataset, studies, title="Lung CT", description="Thoracic CT.", site=SITE
    )
    secrets |= {s["sha3_256"] for s in manifest.studies}
    return Built(lake, studies, secrets, dates)


@pytest.fixture
def built(tmp_path) -> Built:
    return build_lake(tmp_path / "lake")


def parsed(body: bytes, fmt: str) -> Graph:
    return Graph().parse(data=body, format=RDFLIB_FORMATS[fmt], publicID=BASE + "/dcat")


def test_counts_and_value_sets_come_from_the_manifest(built):
    d = describe(built.lake, "lung-ct", base_url=BASE, site=SITE)
    manifest = built.lake.manifest("lung-ct")
    assert (d.dataset, d.version, d.title, d.site) == ("lung-ct", 1, "Lung CT", SITE)
    assert d.manifest_sha3_256 == manifest.sha3_256
    assert (d.subjects, d.studies, d.series, d.instances) == (6, 7, 13, 26)
    assert d.size_bytes == manifest.size
    assert d.modalities == ["CT", "MR"]
    assert d.body_parts == ["CHEST", "HEAD"]
    assert d.manufacturers == ["ACME Imaging", "Magnetix"]


def test_ages_are_banded_and_top_coded_and_dates_are_months(built):
    d = describe(built.lake, "lung-ct", base_url=BASE, site=SITE)
    # youngest 23 -> band 20-24, oldest 93 -> "90 or older"
    assert (d.age_min, d.age_max) == (20, 90)
    assert (d.study_date_min, d.study_date_max) == ("2023-01", "2023-06")


def test_sex_counts_leave_out_cells_smaller_than_k(built):
    d = describe(built.lake, "lung-ct", base_url=BASE, site=SITE)
    assert d.sexes == ["female", "male"]
    assert d.sex_counts == {"female": 5}  # the one male is not counted


def test_a_dataset_of_fewer_than_k_subjects_gives_no_range_and_no_sex(tmp_path):
    small = build_lake(tmp_path / "lake", subjects=K_ANONYMITY - 1)
    d = describe(small.lake, "lung-ct", base_url=BASE, site=SITE)
    assert d.subjects == K_ANONYMITY - 1
    assert (d.age_min, d.age_max, d.study_date_min, d.study_date_max) == (None,) * 4
    assert (d.sexes, d.sex_counts) == ([], {})
    report = validate(parsed(to_rdf([d], base_url=BASE, fmt="ttl"), "ttl"))
    assert [v.accepted for v in report.verdicts] == [True]


def test_unknown_ages_do_not_count_towards_k(tmp_path):
    few_ages = build_lake(tmp_path / "lake", ages=(40, 41, None, None, None, None))
    d = describe(few_ages.lake, "lung-ct", base_url=BASE, site=SITE)
    assert (d.age_min, d.age_max) == (None, None)
    assert d.study_date_min == "2023-01"


def test_an_older_version_is_described_as_it_was(built):
    lake = built.lake
    subject, study, series = "sub-ffffffffffffffff", generate_uid("2.25."), generate_uid("2.25.")
    lake.store(instance(subject, study, series, modality="PT", body_part="WHOLEBODY"))
    lake.publish_dataset("lung-ct", [(subject, study)])
    latest = describe(lake, "lung-ct", base_url=BASE, site=SITE)
    first = describe(lake, "lung-ct", version=1, base_url=BASE, site=SITE)
    assert (latest.version, latest.subjects, latest.studies) == (2, 7, 8)
    assert "PT" in latest.modalities
    assert (first.version, first.subjects, first.studies, first.modalities) == (
        1,
        6,
        7,
        ["CT", "MR"],
    )
    with pytest.raises(KeyError):
        describe(lake, "lung-ct", version=3, base_url=BASE, site=SITE)
    with pytest.raises(KeyError):
        describe(lake, "no-such", base_url=BASE, site=SITE)


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_every_serialisation_passes_the_hubs_shapes(built, fmt):
    d = describe(built.lake, "lung-ct", base_url=BASE, site=SITE, contact_email="data@x.example")
    graph = parsed(to_rdf([d], base_url=BASE, fmt=fmt), fmt)
    for checked in (graph, normalise(graph)):  # as sent, and as the hub stages it
        report = validate(checked)
        (verdict,) = report.verdicts
        assert verdict.accepted, [f.message for f in verdict.violations]
        assert verdict.iri == f"{BASE}/datasets/lung-ct"
        assert verdict.identifier == "lung-ct"
        # Only what a site cannot know from its images is left to recommend.
        assert all(
            "dct:subject" in f.message or "dataUseCondition" in f.message for f in verdict.warnings
        ), [f.message for f in verdict.warnings]
        assert report.catalogue_findings == []


def test_the_full_dcat_ap_shapes_accept_it_too(built):
    d = describe(built.lake, "lung-ct", base_url=BASE, site=SITE)
    report = validate(parsed(to_rdf([d], base_url=BASE, fmt="ttl"), "ttl"), full=True)
    (verdict,) = report.verdicts
    assert verdict.accepted, [f.message for f in verdict.violations]


def test_the_distribution_names_the_site_and_the_manifest_not_a_path(built):
    d = describe(built.lake, "lung-ct", base_url=BASE, site=SITE)
    g = parsed(to_rdf([d], base_url=BASE, fmt="ttl"), "ttl")
    (dist,) = g.objects(URIRef(f"{BASE}/datasets/lung-ct"), DCAT.distribution)
    assert str(dist) == f"urn:agora:{SITE}:manifest:{d.manifest_sha3_256}"
    assert (dist, RDF.type, DCAT.Distribution) in g
    access = str(g.value(dist, DCAT.accessURL))
    assert access == f"{BASE}/manifests/lung-ct/v1"
    spdx = "http://spdx.org/rdf/terms#"
    checksum = g.value(dist, URIRef(spdx + "checksum"))
    assert str(g.value(checksum, URIRef(spdx + "checksumValue"))) == d.manifest_sha3_256
    assert str(g.value(checksum, URIRef(spdx + "algorithm"))).endswith("sha3_256")
    assert int(g.value(dist, DCAT.byteSize)) == d.size_bytes


def test_the_hub_reads_the_facets_it_searches(built):
    d = describe(built.lake, "lung-ct", base_url=BASE, site=SITE)
    g = normalise(parsed(to_rdf([d], base_url=BASE, fmt="ttl"), "ttl"))
    records = pytest.importorskip("harvester.records")  # plain Python, no Django
    fields = records.fields(g, f"{BASE}/datasets/lung-ct")
    assert fields["number_of_subjects"] == 6
    assert fields["number_of_studies"] == 7
    assert fields["modalities"] == ["CT", "MR"]
    assert fields["body_parts"] == ["CHEST", "HEAD"]
    assert set(fields["sex_counts"]) == {"female", "male"}
    assert (fields["age_min"], fields["age_max"]) == (20, 90)
    assert fields["access_rights"] == "RESTRICTED"


def test_miabis_collection_has_the_crosswalks_fields(built):
    d = describe(built.lake, "lung-ct", base_url=BASE, site=SITE, contact_email="data@x.example")
    collection = to_miabis(d)
    assert collection["id"] == f"{SITE}:collection:lung-ct"
    assert collection["name"] == "Lung CT"
    assert collection["description"].startswith("Thoracic CT.")
    assert collection["biobank"] == SITE
    assert collection["numberOfSubjects"] == 6
    assert collection["numberOfStudies"] == 7
    assert collection["imagingModality"] == ["CT", "MR"]
    assert collection["imagingBodyPart"] == ["CHEST", "HEAD"]
    assert collection["sex"] == ["FEMALE", "MALE"]
    assert (collection["ageLow"], collection["ageHigh"], collection["ageUnit"]) == (20, 90, "YEAR")
    assert collection["accessRights"] == "RESTRICTED"
    assert collection["contact"] == {"email": "data@x.example"}
    assert collection["datasetType"] == ["IMAGING"]
    json.dumps(collection)  # plain JSON


def test_the_hub_accepts_the_miabis_collection(built):
    d = describe(built.lake, "lung-ct", base_url=BASE, site=SITE, contact_email="data@x.example")
    graph = miabis_to_dcat([to_miabis(d)], base="https://hub.example/nodes/1/")
    (verdict,) = validate(normalise(graph)).verdicts
    assert verdict.accepted, [f.message for f in verdict.violations]


def test_no_per_patient_value_in_any_output(built):
    lake = built.lake
    descriptions = describe_all(lake, base_url=BASE, site=SITE, contact_email="data@x.example")
    outputs = {fmt: to_rdf(descriptions, base_url=BASE, fmt=fmt).decode() for fmt in FORMATS}
    outputs["miabis"] = json.dumps([to_miabis(d) for d in descriptions])
    outputs["repr"] = repr(descriptions)
    assert built.secrets and built.dates
    for name, text in outputs.items():
        for secret in sorted(built.secrets | built.dates):
            assert secret not in text, f"{name} leaks a per-patient value"
        assert not re.search(r"sub-[0-9a-f]{16}", text), name
        assert not re.search(r"2\.25\.[0-9]{10,}", text), name
        assert ".dcm" not in text, name


def test_a_real_de_identified_instance_is_described(tmp_path):
    deid = pytest.importorskip("node_adapter.deid")
    source = pydicom.dcmread(pydicom.data.get_testdata_file("CT_small.dcm"))
    original_values = {
        str(source.PatientName),
        source.PatientID,
        source.StudyInstanceUID,
        source.SOPInstanceUID,
    }
    lake = Lake(tmp_path / "lake")
    config = deid.DeidConfig(site_secret=b"0123456789abcdef0123", site_id=SITE)
    item = deid.deidentify(source, config)
    lake.store(item)
    lake.publish_dataset("ct-small", [(item.subject, item.study_uid)], site=SITE)
    d = describe(lake, "ct-small", base_url=BASE, site=SITE)
    assert (d.subjects, d.studies, d.series, d.instances) == (1, 1, 1, 1)
    assert d.modalities == ["CT"]
    texts = [to_rdf([d], base_url=BASE, fmt=f).decode() for f in FORMATS]
    texts.append(json.dumps(to_miabis(d)))
    for text in texts:
        for value in original_values | {item.subject, item.study_uid, item.sop_instance_uid}:
            assert value not in text
    (verdict,) = validate(parsed(to_rdf([d], base_url=BASE, fmt="ttl"), "ttl")).verdicts
    assert verdict.accepted


def test_hydra_terms_are_not_in_a_plain_catalogue(built):
    d = describe(built.lake, "lung-ct", base_url=BASE, site=SITE)
    g = parsed(to_rdf([d], base_url=BASE, fmt="ttl"), "ttl")
    assert not any(str(p).startswith(str(HYDRA)) for p in g.predicates())
    assert len(list(g.subjects(RDF.type, DCAT.Catalog))) == 1


def test_ingested_studies_with_realistic_phi_leave_none_in_the_description(tmp_path):
    """Generated studies full of PHI (names, IDs, accession numbers, physicians, nested
    sequences), through the real ingest: no original value in any output."""
    factory = pytest.importorskip("node_adapter.tests.dicom_factory")
    deid = pytest.importorskip("node_adapter.deid")
    from node_adapter.ingest import ingest
    from node_adapter.sources import FolderSource

    patients = [
        ("PID-1001", "DOE^JANE", "19610203", "F", "MR", "HEAD"),
        ("PID-1002", "ROE^RICHARD", "19700512", "M", "CT", "CHEST"),
        ("PID-1003", "SMITH^ANNA", "19551120", "F", "CT", "ABDOMEN"),
        ("PID-1004", "MILLER^OTTO", "19820730", "M", "CT", "CHEST"),
        ("PID-1005", "ROSSI^MARIA", "19490101", "F", "MR", "HEAD"),
    ]
    originals = []
    for n, (pid, name, born, sex, modality, part) in enumerate(patients):
        study = factory.make_study(
            pid, name, born, sex, modality=modality, body_part=part, series=1, instances=2
        )
        factory.write_study(study, tmp_path / "incoming" / f"patient{n}")
        originals += study
    lake = Lake(tmp_path / "lake")
    config = deid.DeidConfig(site_secret=b"a-site-secret-of-32-bytes-length", site_id=SITE)
    report = ingest(FolderSource(tmp_path / "incoming"), lake, config, dataset="mixed")
    assert report.stored == 10
    d = describe(lake, "mixed", base_url=BASE, site=SITE, contact_email="data@x.example")
    assert (d.subjects, d.studies, d.instances) == (5, 5, 10)
    assert d.modalities == ["CT", "MR"]
    outputs = [to_rdf([d], base_url=BASE, fmt=fmt).decode() for fmt in FORMATS]
    outputs += [json.dumps(to_miabis(d)), repr(d)]
    phi = factory.phi_values(originals)
    assert phi
    for text in outputs:
        for value in phi:
            assert value not in text
        for row in lake.index().rows():
            assert row.subject not in text and row.study not in text
