"""The storage SCP: a real C-STORE from a pynetdicom client, on loopback."""

from __future__ import annotations

import time
from io import BytesIO

import pydicom
import pytest
from pynetdicom import AE
from pynetdicom.sop_class import CTImageStorage, MRImageStorage, Verification

from node_adapter.deid import DeidConfig
from node_adapter.ingest import crosswalk_for
from node_adapter.lake import Lake
from node_adapter.scp import serve_storage_scp
from node_adapter.tests.dicom_factory import make_study, phi_values

CONFIG = DeidConfig(site_secret=b"scp-test-site-secret-0123456789", site_id="test-site")
NODE_AET = "AGORA_NODE"
DATASET = "scp-arrivals"


@pytest.fixture
def lake(tmp_path):
    return Lake(tmp_path / "lake")


@pytest.fixture
def node(lake):
    """The node listening on a free loopback port (port 0: the OS picks one)."""
    server = serve_storage_scp(
        lake=lake,
        config=CONFIG,
        ae_title=NODE_AET,
        host="127.0.0.1",
        port=0,
        dataset=DATASET,
        block=False,
    )
    yield server
    server.shutdown()


def modality() -> AE:
    ae = AE(ae_title="CT_ROOM3")
    ae.add_requested_context(CTImageStorage)
    ae.add_requested_context(MRImageStorage)
    ae.add_requested_context(Verification)
    return ae


def send(node, datasets) -> list[int]:
    """One association: C-STORE each dataset, release; the statuses answered."""
    assoc = modality().associate("127.0.0.1", node.server_address[1], ae_title=NODE_AET)
    assert assoc.is_established
    try:
        return [assoc.send_c_store(ds).Status for ds in datasets]
    finally:
        assoc.release()


def released_files(lake: Lake) -> dict[str, bytes]:
    return {
        p.relative_to(lake.root).as_posix(): p.read_bytes()
        for p in lake.root.rglob("*.dcm")
        if ".agora" not in p.relative_to(lake.root).parts
    }


def leaks(files: dict[str, bytes], phi: set[str]) -> list[tuple[str, str]]:
    return [(path, v) for path, data in files.items() for v in phi if v.encode() in data]


def wait_for_version(lake: Lake, version: int, timeout: float = 10) -> None:
    """The dataset is published by the server's association thread once the release is
    acknowledged, which can be a moment after the client's release() returns."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if lake.manifest(DATASET).version >= version:
                return
        except KeyError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"dataset {DATASET} v{version} not published within {timeout} s")


def test_c_echo_is_answered(node):
    assoc = modality().associate("127.0.0.1", node.server_address[1], ae_title=NODE_AET)
    assert assoc.is_established
    assert assoc.send_c_echo().Status == 0x0000
    assoc.release()


def test_a_multi_series_study_c_stored_lands_deidentified_in_the_lake(node, lake):
    study = make_study("PAT-SCP-001", "GARCIA^MARIA^LUISA", "19620517", "F", series=3, instances=4)

    statuses = send(node, study)

    assert statuses == [0x0000] * 12
    wait_for_version(lake, 1)
    files = released_files(lake)
    assert len(files) == 12
    subjects = {path.split("/")[0] for path in files}
    studies = {path.split("/")[1] for path in files}
    series = {path.split("/")[2] for path in files}
    assert len(subjects) == 1 and len(studies) == 1 and len(series) == 3
    phi = phi_values(study)
    original = BytesIO()
    pydicom.dcmwrite(original, study[0], enforce_file_format=True)
    assert leaks({"original": original.getvalue()}, phi)  # the scan does find PHI
    assert leaks(files, phi) == []
    stored = pydicom.dcmread(BytesIO(next(iter(files.values()))))
    assert stored.PatientID == subjects.pop() and stored.StudyInstanceUID in studies
    # The crosswalk, at the site, knows who that is.
    manifest = lake.manifest(DATASET)
    assert manifest.version == 1 and manifest.instances == 12 and manifest.site == "test-site"
    identity = crosswalk_for(lake).identity(manifest.studies[0]["subject"])
    assert identity is not None and identity.patient_id == "PAT-SCP-001"


def test_each_association_adds_its_studies_to_the_dataset(node, lake):
    first = make_study("PAT-SCP-002", "NOVAK^PETR", "19800101", "M", series=1, instances=2)
    second = make_study(
        "PAT-SCP-003", "OKAFOR^ADA", "19911111", "F", modality="MR", series=2, instances=2
    )

    assert send(node, first) == [0x0000] * 2
    wait_for_version(lake, 1)
    assert send(node, second) == [0x0000] * 4
    wait_for_version(lake, 2)

    manifest = lake.manifest(DATASET)
    assert len(manifest.studies) == 2 and manifest.instances == 6
    assert len(lake.manifest(DATASET, 1).studies) == 1  # version 1 is unchanged


def test_a_redelivery_succeeds_and_publishes_no_new_version(node, lake):
    study = make_study("PAT-SCP-004", "LEE^MIN", "19750505", "M", series=1, instances=3)
    assert send(node, study) == [0x0000] * 3
    wait_for_version(lake, 1)

    assert send(node, study) == [0x0000] * 3
    time.sleep(0.5)  # give a (wrong) second version the time to appear

    assert lake.versions(DATASET) == [1]
    assert len(released_files(lake)) == 3


def test_burned_in_images_are_accepted_but_quarantined_not_released(node, lake):
    study = make_study(
        "PAT-SCP-005", "MOREAU^LUC", "19690909", "M", series=1, instances=2, burned_in="YES"
    )

    # Success: the images are safely kept at the site; a failure would make the
    # modality resend them forever (see scp.py).
    assert send(node, study) == [0x0000] * 2

    assert released_files(lake) == {}
    assert len(lake.quarantined()) == 2
    assert all("burned" in note["reason"].lower() for note in lake.quarantined())
    time.sleep(0.3)
    assert lake.datasets() == []
