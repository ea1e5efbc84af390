"""The ingestion pipeline with the real de-identification and crosswalk."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import pytest

from node_adapter.crosswalk import Crosswalk
from node_adapter.deid import DeidConfig
from node_adapter.ingest import ingest, ingest_one
from node_adapter.lake import Lake
from node_adapter.progress import Progress
from node_adapter.sources import FolderSource
from node_adapter.tests.dicom_factory import make_study, phi_values, write_study

SECRET = b"ingest-tests-site-secret-0123456789"


@pytest.fixture
def config() -> DeidConfig:
    return DeidConfig(site_secret=SECRET, site_id="test-site")


@pytest.fixture
def incoming(tmp_path: Path):
    """Two patients' studies, a truncated DICOM file and a text file, under PHI-ish names."""
    folder = tmp_path / "incoming"
    a = make_study("PAT-001", "DOE^JANE", "19700304", "F", series=2, instances=3)
    b = make_study("PAT-002", "ROE^RICHARD", "19561111", "M", modality="MR", instances=2)
    write_study(a, folder / "DOE^JANE")
    write_study(b, folder / "ROE^RICHARD")
    good = (folder / "DOE^JANE" / "series1" / "im0001.dcm").read_bytes()
    (folder / "DOE_JANE_truncated.dcm").write_bytes(good[:300])
    (folder / "DOE_JANE_notes.txt").write_text("Jane Doe, born 1970-03-04, PAT-001\n")
    (folder / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    return folder, a + b


def dcm_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.dcm") if ".agora" not in p.parts)


def test_bad_files_are_quarantined_with_their_reason_and_the_rest_is_stored(
    tmp_path, incoming, config
):
    folder, datasets = incoming
    lake = Lake(tmp_path / "lake")
    report = ingest(FolderSource(folder), lake, config, dataset="chest")
    assert (report.received, report.stored, report.unchanged) == (12, 10, 0)
    assert report.quarantined == 2 and sum(report.reasons.values()) == 2
    assert any("not a DICOM file" in reason for reason in report.reasons)
    assert len(dcm_files(lake.root)) == len(datasets) == 10
    notes = lake.quarantined()
    assert {n["reason"] for n in notes} == set(report.reasons)
    assert all(n["origin"].startswith("file ") and "DOE" not in n["origin"] for n in notes)
    assert report.manifest is not None and report.manifest.instances == 10
    assert len(report.studies) == 2


def test_reingesting_the_same_folder_creates_nothing_new(tmp_path, incoming, config):
    folder, _ = incoming
    lake = Lake(tmp_path / "lake")
    first = ingest(FolderSource(folder), lake, config, dataset="chest")
    before = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in lake.root.rglob("*.dcm")}
    again = ingest(FolderSource(folder), lake, config, dataset="chest")
    after = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in lake.root.rglob("*.dcm")}
    assert (again.stored, again.unchanged, again.quarantined) == (0, 10, 2)
    assert after == before
    assert lake.versions("chest") == [1]
    assert again.manifest == first.manifest


def test_a_later_delivery_adds_a_version_sharing_the_first_studies(tmp_path, config):
    lake = Lake(tmp_path / "lake")
    write_study(make_study("PAT-001", "DOE^JANE", "19700304", "F"), tmp_path / "week1")
    write_study(make_study("PAT-003", "POE^EDGAR", "19490119", "M"), tmp_path / "week3")
    v1 = ingest(FolderSource(tmp_path / "week1"), lake, config, dataset="chest").manifest
    v2 = ingest(FolderSource(tmp_path / "week3"), lake, config, dataset="chest").manifest
    assert (v1.version, v2.version) == (1, 2)
    assert v1.studies[0] in v2.studies and len(v2.studies) == 2
    assert len(dcm_files(lake.root)) == 12


def test_each_instance_is_recorded_in_the_crosswalk(tmp_path, incoming, config):
    folder, _ = incoming
    lake = Lake(tmp_path / "lake")
    report = ingest(FolderSource(folder), lake, config, dataset=None)
    crosswalk = Crosswalk(lake.root / ".agora" / "crosswalk.sqlite3")
    identities = {crosswalk.identity(subject).patient_id for subject, _ in report.studies}
    assert identities == {"PAT-001", "PAT-002"}
    assert lake.datasets() == []  # no dataset asked for, none published


def test_conflicting_demographics_raise_a_flag(tmp_path, config):
    write_study(make_study("PAT-001", "DOE^JANE", "19700304", "F"), tmp_path / "a")
    write_study(make_study("PAT-001", "SMITH^ANNA", "19810101", "F", study_key="2"), tmp_path / "b")
    lake = Lake(tmp_path / "lake")
    ingest(FolderSource(tmp_path / "a"), lake, config, dataset=None)
    report = ingest(FolderSource(tmp_path / "b"), lake, config, dataset=None)
    assert report.flags >= 1


def test_instances_the_profile_refuses_are_quarantined(tmp_path, config):
    write_study(
        make_study("PAT-009", "DOE^JOHN", "19800101", "M", burned_in="YES"), tmp_path / "in"
    )
    lake = Lake(tmp_path / "lake")
    report = ingest(FolderSource(tmp_path / "in"), lake, config, dataset="x")
    assert report.stored == 0 and report.quarantined == 6
    assert any("burned-in" in reason for reason in report.reasons)
    assert dcm_files(lake.root) == [] and report.manifest is None


def test_logs_hold_no_identifying_value(tmp_path, incoming, config, caplog):
    folder, datasets = incoming
    caplog.set_level(logging.DEBUG, logger="node_adapter")
    ingest(FolderSource(folder), Lake(tmp_path / "lake"), config, dataset="chest")
    text = caplog.text
    assert text
    leaks = sorted(value for value in phi_values(datasets) if value in text)
    assert leaks == [] and "DOE_JANE" not in text


def test_ingest_one_answers_none_for_what_it_quarantines(tmp_path, config):
    lake = Lake(tmp_path / "lake")
    crosswalk = Crosswalk(lake.root / ".agora" / "crosswalk.sqlite3")
    assert ingest_one(b"hello", lake, config, crosswalk) is None
    ds = make_study("PAT-001", "DOE^JANE", "19700304", "F", series=1, instances=1)[0]
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    stored = ingest_one(buffer.getvalue(), lake, config, crosswalk)
    assert stored is not None and stored.created
    assert ingest_one(buffer.getvalue(), lake, config, crosswalk).created is False


def test_folder_source_labels_files_by_number_not_name(incoming):
    folder, _ = incoming
    source = FolderSource(folder)
    labels = [origin for origin, _ in source.instances()]
    assert source.count() == len(labels) == 12  # .DS_Store is skipped
    assert labels[0] == "file 1 of 12" and labels[-1] == "file 12 of 12"


def test_progress_counts_every_instance(tmp_path, incoming, config):
    folder, _ = incoming
    stream = io.StringIO()
    progress = Progress(12, label="ingest", stream=stream)
    ingest(FolderSource(folder), Lake(tmp_path / "lake"), config, dataset=None, progress=progress)
    assert progress.done == 12


def test_progress_draws_a_bar_on_a_terminal_and_logs_otherwise(caplog):
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    with Progress(4, label="ingest", stream=terminal, interval=0) as bar:
        bar.update(2)
    assert "[###############---------------] 2/4" in terminal.getvalue()
    caplog.set_level(logging.INFO, logger="node_adapter.progress")
    plain = io.StringIO()
    with Progress(4, stream=plain) as lines:
        lines.update(4)
    assert plain.getvalue() == "" and "done=4 total=4" in caplog.text
