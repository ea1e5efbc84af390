"""A provider node and the hub together: the node adapter ingests studies with PHI, then
the real hub receives its push, and harvests its `/dcat` as a pull node. What reaches the
hub is aggregates only."""

import threading

import pytest

from catalogue.models import Dataset
from harvester import services as harvester
from harvester.models import HarvestJob
from node_adapter.deid import DeidConfig
from node_adapter.ingest import ingest
from node_adapter.lake import Lake
from node_adapter.push import push
from node_adapter.serve import make_server
from node_adapter.sources import FolderSource
from node_adapter.tests.dicom_factory import make_study, phi_values, write_study

CONFIG = DeidConfig(
    site_secret=b"a site secret of the test node",
    site_id="hospital-a-node",
    retain_patient_characteristics=True,
)


@pytest.fixture
def lake_with_phi(tmp_path):
    """Six patients' CT studies with realistic PHI, ingested as dataset `lung-ct`."""
    studies = []
    for n in range(6):
        patient = make_study(
            f"PAT{n:04d}",
            f"DOE^JANE{n}",
            f"19{50 + n}0101",
            "F" if n % 2 else "M",
            series=1,
            instances=2,
        )
        write_study(patient, tmp_path / "incoming" / f"patient-{n}")
        studies += patient
    lake = Lake(tmp_path / "lake")
    ingest(
        FolderSource(tmp_path / "incoming"),
        lake,
        CONFIG,
        dataset="lung-ct",
        title="Lung CT of Hospital A",
        description="Chest CT with nodules.",
    )
    return lake, phi_values(studies)


def assert_no_phi(dataset: Dataset, phi: set[str]) -> None:
    stored = " ".join(
        str(v)
        for v in (
            dataset.source_rdf,
            dataset.normalised_rdf,
            dataset.title,
            dataset.description,
            dataset.studies,
        )
    )
    leaked = sorted(value for value in phi if len(value) >= 4 and value in stored)
    assert leaked == []


def test_the_hub_receives_a_nodes_push(live_server, lake_with_phi, hub_admin, org_a):
    lake, phi = lake_with_phi
    node, token = harvester.register_node(
        by=hub_admin,
        organisation=org_a,
        name="Hospital A node",
        mode="push",
        auto_release=True,
    )
    report = push(
        lake,
        hub_url=live_server.url,
        token=token,
        node_id=str(node.pk),
        base_url="https://node.hospital-a.example",
        site="hospital-a-node",
    )
    assert report["status"] == "succeeded", report
    assert report["counts"]["added"] == 1 and report["counts"]["rejected"] == 0
    dataset = Dataset.objects.get(organisation=org_a)
    assert dataset.title == "Lung CT of Hospital A"
    assert dataset.number_of_subjects == 6 and dataset.modalities == ["CT"]
    assert dataset.state == "released"
    assert_no_phi(dataset, phi)


def test_the_hub_harvests_a_nodes_catalogue(lake_with_phi, hub_admin, org_a, settings):
    lake, phi = lake_with_phi
    server = make_server(
        lake,
        host="127.0.0.1",
        port=0,
        base_url="https://node.hospital-a.example",
        site="hospital-a-node",
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/dcat"
        node, _ = harvester.register_node(
            by=hub_admin, organisation=org_a, name="Hospital A node", base_url=url
        )
        first = harvester.run_pull(harvester.request_harvest(node=node, by=hub_admin).pk)
        again = harvester.run_pull(harvester.request_harvest(node=node, by=hub_admin).pk)
    finally:
        server.shutdown()
        server.server_close()
    assert first.status == HarvestJob.Status.SUCCEEDED and first.added == 1, first.error
    assert again.status == HarvestJob.Status.SUCCEEDED and again.added == 0
    dataset = Dataset.objects.get(organisation=org_a)
    assert dataset.number_of_subjects == 6
    assert_no_phi(dataset, phi)
