"""The data lake: layout, atomic and idempotent writes, permissions, hashes, manifests."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

import pytest

from node_adapter.deid import DeidConfig, deidentify
from node_adapter.lake import Lake, canonical_json
from node_adapter.tests.dicom_factory import make_study

SECRET = b"lake-tests-site-secret-0123456789"


@pytest.fixture
def config() -> DeidConfig:
    return DeidConfig(site_secret=SECRET, site_id="test-site")


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    return Lake(tmp_path / "lake")


def deidentified(config: DeidConfig, patient: str = "PAT-001", study_key: str = "1", **kw):
    datasets = make_study(patient, "DOE^JANE", "19700304", "F", study_key=study_key, **kw)
    return [deidentify(ds, config) for ds in datasets]


def dcm_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.dcm") if ".agora" not in p.parts)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_instances_are_laid_out_once_by_subject_study_series(lake, config):
    items = deidentified(config, series=2, instances=2)
    stored = [lake.store(item) for item in items]
    assert all(s.created for s in stored)
    for item, s in zip(items, stored, strict=True):
        expected = f"{item.subject}/{item.study_uid}/{item.series_uid}/{item.sop_instance_uid}.dcm"
        assert s.relative_path == expected
        assert (lake.root / expected).is_file()
    assert len(dcm_files(lake.root)) == 4


def test_lake_is_private_to_the_site_account(lake, config):
    lake.store(deidentified(config, series=1, instances=1)[0])
    folders = [lake.root, *(p for p in lake.root.rglob("*") if p.is_dir())]
    files = [p for p in lake.root.rglob("*") if p.is_file()]
    assert {mode(p) for p in folders} == {0o700}
    assert files and {mode(p) for p in files} == {0o600}


def test_identical_redelivery_writes_nothing(lake, config):
    item = deidentified(config, series=1, instances=1)[0]
    first = lake.store(item)
    path = lake.root / first.relative_path
    before = path.stat()
    again = lake.store(
        deidentify(
            make_study("PAT-001", "DOE^JANE", "19700304", "F", series=1, instances=1)[0], config
        )
    )
    assert again.created is False
    assert again.sha3_256 == first.sha3_256
    after = path.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_changed_content_for_the_same_instance_replaces_it(lake, config, caplog):
    item = deidentified(config, series=1, instances=1)[0]
    first = lake.store(item)
    item.dataset.SeriesDescription = "corrected at the modality"
    caplog.set_level("INFO", logger="node_adapter.lake")
    second = lake.store(item)
    assert second.created and second.sha3_256 != first.sha3_256
    assert len(dcm_files(lake.root)) == 1
    assert hashlib.sha3_256((lake.root / second.relative_path).read_bytes()).hexdigest() == (
        second.sha3_256
    )
    assert [r.sha3_256 for r in lake.index().rows()] == [second.sha3_256]
    assert "instance_replaced" in caplog.text


def test_a_failed_write_leaves_neither_a_partial_file_nor_a_temp_file(lake, config, monkeypatch):
    item = deidentified(config, series=1, instances=1)[0]

    def crash(*args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        lake.store(item)
    monkeypatch.undo()
    assert dcm_files(lake.root) == []
    assert not [p for p in lake.root.rglob(".tmp-*")]
    assert lake.store(item).created  # and the next delivery goes through


def test_redelivery_after_a_lost_index_flush_still_writes_nothing(tmp_path, config):
    item = deidentified(config, series=1, instances=1)[0]
    crashed = Lake(tmp_path / "lake")
    stored = crashed.store(item)
    crashed._pending.clear()  # the process died before the index was written
    lake = Lake(tmp_path / "lake")
    again = lake.store(item)
    assert again.created is False and again.sha3_256 == stored.sha3_256
    assert len(lake.index()) == 1


def test_file_study_and_manifest_hashes_can_be_recomputed(lake, config):
    items = deidentified(config, series=2, instances=2)
    stored = [lake.store(item) for item in items]
    manifest = lake.publish_dataset("lung", {(s.subject, s.study) for s in stored})
    (study,) = manifest.studies
    lines = []
    for entry in study["files"]:
        data = (lake.root / entry["path"]).read_bytes()
        assert hashlib.sha3_256(data).hexdigest() == entry["sha3_256"]
        assert len(data) == entry["size"]
        lines.append(f"{entry['path']} {entry['sha3_256']}\n")
    assert study["sha3_256"] == hashlib.sha3_256("".join(sorted(lines)).encode()).hexdigest()
    assert study["sha3_256"] == lake.study_hash(study["subject"], study["study"])
    on_disk = json.loads((lake.root / ".agora/datasets/lung/v1.json").read_text())
    stated = on_disk.pop("sha3_256")
    canonical = json.dumps(on_disk, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert stated == hashlib.sha3_256(canonical.encode()).hexdigest() == manifest.sha3_256
    assert canonical.encode() == canonical_json(on_disk)


def test_versions_share_studies_without_copying_files(lake, config):
    first = [lake.store(i) for i in deidentified(config, "PAT-001", series=1, instances=2)]
    v1 = lake.publish_dataset("lung", {(s.subject, s.study) for s in first}, title="Lungs")
    inodes = {p: p.stat().st_ino for p in dcm_files(lake.root)}
    second = [lake.store(i) for i in deidentified(config, "PAT-002", series=1, instances=2)]
    v2 = lake.publish_dataset("lung", {(s.subject, s.study) for s in second})
    assert (v1.version, v2.version) == (1, 2)
    assert v2.title == "Lungs"  # kept from the previous version
    assert v1.studies[0] in v2.studies  # same entry: same paths, same hashes
    assert len(v2.studies) == 2
    assert len(dcm_files(lake.root)) == 4  # each instance once, whatever the versions
    assert all(p.stat().st_ino == ino for p, ino in inodes.items())
    assert lake.manifest("lung", 1) == v1 and lake.manifest("lung") == v2
    assert lake.datasets() == ["lung"]


def test_publishing_the_same_content_again_makes_no_new_version(lake, config):
    stored = [lake.store(i) for i in deidentified(config, series=1, instances=1)]
    studies = {(s.subject, s.study) for s in stored}
    v1 = lake.publish_dataset("lung", studies)
    assert lake.publish_dataset("lung", studies) == v1
    assert lake.versions("lung") == [1]


def test_replace_publishes_only_the_given_studies(lake, config):
    a = lake.store(deidentified(config, "PAT-001", series=1, instances=1)[0])
    b = lake.store(deidentified(config, "PAT-002", series=1, instances=1)[0])
    lake.publish_dataset("lung", [(a.subject, a.study)])
    v2 = lake.publish_dataset("lung", [(b.subject, b.study)], replace=True)
    assert v2.study_keys() == [(b.subject, b.study)]


def test_a_tampered_manifest_is_refused(lake, config):
    s = lake.store(deidentified(config, series=1, instances=1)[0])
    lake.publish_dataset("lung", [(s.subject, s.study)], title="Lungs")
    path = lake.root / ".agora/datasets/lung/v1.json"
    path.write_text(path.read_text().replace("Lungs", "Hearts"))
    with pytest.raises(ValueError, match="does not match its hash"):
        lake.manifest("lung")


def test_unknown_datasets_and_bad_names_are_refused(lake, config):
    with pytest.raises(KeyError):
        lake.manifest("nothing")
    with pytest.raises(ValueError):
        lake.publish_dataset("../escape", [])
    with pytest.raises(ValueError, match="not in the lake"):
        lake.publish_dataset("lung", [("sub-0", "2.25.1")])


def test_index_summarises_the_deidentified_headers(lake):
    config = DeidConfig(site_secret=SECRET, retain_patient_characteristics=True)
    for item in deidentified(config, series=1, instances=2, modality="MR", body_part="HEAD"):
        lake.store(item)
    rows = lake.index().rows()
    assert len(rows) == 2
    row = rows[0]
    assert (row.modality, row.body_part, row.manufacturer) == ("MR", "HEAD", "ACME Medical")
    assert (row.sex, row.age_years) == ("F", 54)
    assert row["relative_path"] == row.relative_path  # rows also read like mappings
    assert row.study_date in ("", row.study_date)  # removed or shifted by the profile
    assert lake.index().rows([(row.subject, row.study)]) == rows


def test_quarantine_keeps_bytes_and_reason_at_the_site(lake):
    path = lake.quarantine(b"not dicom", "not a DICOM file", "file 3 of 9")
    assert path.read_bytes() == b"not dicom"
    assert path.name == hashlib.sha3_256(b"not dicom").hexdigest() + ".dcm"
    note = json.loads(path.with_suffix(".json").read_text())
    assert (note["reason"], note["origin"]) == ("not a DICOM file", "file 3 of 9")
    assert mode(path) == 0o600 and mode(path.parent) == 0o700
    assert lake.quarantined()[0]["reason"] == "not a DICOM file"


def test_path_components_that_could_escape_the_lake_are_refused(lake, config):
    item = deidentified(config, series=1, instances=1)[0]
    evil = type(item)(**{**item.__dict__, "subject": ".."})
    with pytest.raises(ValueError):
        lake.store(evil)


def test_written_behind_files_are_indexed_only_once_on_disk(lake, config, monkeypatch):
    items = deidentified(config, series=1, instances=4)
    real_replace = os.replace
    doomed = items[2].sop_instance_uid

    def replace(source, target):
        if doomed in str(target):
            raise OSError("disk full")
        return real_replace(source, target)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(OSError, match="disk full"), lake.write_behind():
        for item in items:
            lake.store(item)
    indexed = {row.sop for row in lake.index().rows()}
    assert indexed == {i.sop_instance_uid for i in items} - {doomed}
    assert len(dcm_files(lake.root)) == 3
    assert not [p for p in lake.root.rglob(".tmp-*")]
    monkeypatch.undo()
    assert lake.store(items[2]).created  # delivered again, it goes through


def _file_hashes(lake: Lake, manifest) -> dict[str, str]:
    return {f["path"]: f["sha3_256"] for s in manifest.studies for f in s["files"]}


def _on_disk(lake: Lake, paths) -> dict[str, str]:
    return {p: hashlib.sha3_256((lake.root / p).read_bytes()).hexdigest() for p in paths}


def test_a_changed_redelivery_never_alters_a_published_version(lake, config):
    first = deidentified(config, series=1, instances=2)
    v1 = lake.publish_dataset("lung", {(s.subject, s.study) for s in map(lake.store, first)})
    changed = deidentified(config, series=1, instances=2, manufacturer="Other Vendor")
    stored = [lake.store(item) for item in changed]
    assert all(s.created for s in stored)
    assert _on_disk(lake, _file_hashes(lake, v1)) == _file_hashes(lake, v1)
    v2 = lake.publish_dataset("lung", {(s.subject, s.study) for s in stored})
    assert v2.version == 2 and set(_file_hashes(lake, v2)).isdisjoint(_file_hashes(lake, v1))
    assert _on_disk(lake, _file_hashes(lake, v2)) == _file_hashes(lake, v2)


def test_a_corrected_patient_id_moves_the_study_and_later_versions_still_publish(lake, config):
    sent = make_study("WRONG-ID", "DOE^JANE", "19700304", "F", series=1, instances=2)
    wrong = [deidentify(ds, config) for ds in sent]
    v1 = lake.publish_dataset("lung", {(s.subject, s.study) for s in map(lake.store, wrong)})
    for ds in sent:  # the same images again, the patient ID corrected at registration
        ds.PatientID = "RIGHT-ID"
    right = [deidentify(ds, config) for ds in sent]
    moved = [lake.store(item) for item in right]
    assert all(s.created for s in moved) and right[0].subject != wrong[0].subject
    v2 = lake.publish_dataset("lung", {(s.subject, s.study) for s in moved})
    assert [s["subject"] for s in v2.studies] == [right[0].subject]
    assert _on_disk(lake, _file_hashes(lake, v1)) == _file_hashes(lake, v1)  # v1 still holds
    other = deidentified(config, "PAT-002", series=1, instances=1)
    v3 = lake.publish_dataset("lung", {(s.subject, s.study) for s in map(lake.store, other)})
    assert len(v3.studies) == 2


def test_two_processes_publishing_at_once_keep_both_studies(tmp_path, config):
    import multiprocessing

    root = tmp_path / "lake"
    lake = Lake(root)
    studies = []
    for patient in ("PAT-A", "PAT-B", "PAT-C", "PAT-D"):
        stored = [lake.store(i) for i in deidentified(config, patient, series=1, instances=1)]
        studies.append((stored[0].subject, stored[0].study))
    lake.flush()
    context = multiprocessing.get_context("spawn")
    with context.Pool(4) as pool:
        pool.starmap(_publish_one, [(str(root), study) for study in studies])
    latest = Lake(root).manifest("lung")
    assert {(s["subject"], s["study"]) for s in latest.studies} == set(studies)


def _publish_one(root: str, study: tuple[str, str]) -> None:
    Lake(Path(root)).publish_dataset("lung", {study})
