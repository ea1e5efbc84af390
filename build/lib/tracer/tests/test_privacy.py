"""No names, e-mails or patient data: every byte the tracer stores and every byte it
puts on chain is searched for the people who acted and what they wrote."""

from __future__ import annotations

import json

import pytest
from django.apps import apps
from django.conf import settings as django_settings
from django.db import transaction

from catalogue import services as catalogue
from catalogue.models import Dataset, LifecycleEvent
from conftest import LUNG_CT
from hub.models import Role, RoleAssignment
from tracer import services
from tracer.models import Action, AnchorBatch, ChainContract, Trace
from tracer.verification import verify_all

JANE = {
    "username": "dr-jane-zyxwv",
    "first_name": "Jane",
    "last_name": "Zyxwvutsrq",
    "email": "jane.zyxwv@hospital.example",
}
QUILLIAM = {
    "username": "prof-quilliam-bxq",
    "first_name": "Quilliam",
    "last_name": "Bexqorth",
    "email": "q.bexqorth@clinic.example",
}
RESEARCHER_EMAIL = "olwen.trask@university.example"
PATIENT_ID = "NHC-88231764"
BIRTH_DATE = "1961-04-17"
TITLE = "Zyxwv thoracic cohort"
REASON = f"Dr Jane Zyxwvutsrq: patient {PATIENT_ID} (born {BIRTH_DATE}) withdrew consent"
SECRETS = [
    *JANE.values(),
    *QUILLIAM.values(),
    "Jane Zyxwvutsrq",
    "Quilliam Bexqorth",
    RESEARCHER_EMAIL,
    PATIENT_ID,
    BIRTH_DATE,
    TITLE,
    REASON,
]


def rows_as_text(model) -> str:
    """Every column of every row, as stored (JSON columns as their text)."""
    return "\n".join(
        json.dumps(row, default=str, ensure_ascii=False) for row in model.objects.values()
    )


def chain_bytes(chain, contracts, batches) -> list[bytes]:
    """Everything on chain the hub caused: each transaction's input, each receipt's and
    each contract log's topics and data, the contracts' code and their stored batches."""
    request = chain.w3.provider.make_request
    hashes = {c.deployed_in_tx for c in contracts} | {b.tx_hash for b in batches}
    blobs: list[str] = []
    for contract in contracts:
        blobs.append(request("eth_getCode", [contract.address, "latest"])["result"])
        logs = request("eth_getLogs", [{"address": contract.address, "fromBlock": "0x0"}])
        for log in logs["result"]:
            hashes.add(log["transactionHash"])
            blobs += [log["data"], *log["topics"]]
        for batch in batches:
            root, count, at = chain.contract(contract.address).functions.batch(batch.number).call()
            blobs += [root.hex(), f"{count:x}", f"{at:x}"]
    for tx_hash in sorted(hashes - {""}):
        blobs.append(request("eth_getTransactionByHash", [tx_hash])["result"]["input"])
        for log in request("eth_getTransactionReceipt", [tx_hash])["result"]["logs"]:
            blobs += [log["data"], *log["topics"]]
    assert len(hashes - {""}) == len(contracts) + len(batches)
    return [bytes.fromhex(blob.removeprefix("0x").rjust(2, "0")) for blob in blobs]


def make_person(django_user_model, org, person: dict):
    user = django_user_model.objects.create_user(password="pw-" + "x" * 12, **person)
    RoleAssignment.objects.create(user=user, role=Role.PROVIDER, organisation=org)
    return user


@pytest.mark.django_db
def test_no_name_email_or_patient_data_is_stored_or_anchored(
    django_user_model, org_a, settings, ganache
):
    settings.CHAIN_RPC_URL = ganache.url
    settings.CHAIN_PRIVATE_KEY = django_settings.GANACHE_DEVELOPMENT_KEY
    settings.TRACER_CONTRACT_ADDRESS = ""
    settings.TRACER_BATCH_SIZE = 10**9  # the actions queue no anchoring of their own
    jane = make_person(django_user_model, org_a, JANE)
    quilliam = make_person(django_user_model, org_a, QUILLIAM)

    dataset = catalogue.create_dataset(
        organisation=org_a,
        by=jane,
        **LUNG_CT
        | {
            "title": TITLE,
            "description": f"Chest CT; includes patient {PATIENT_ID}, born {BIRTH_DATE}.",
            "contact_name": "Jane Zyxwvutsrq",
            "contact_email": JANE["email"],
            "authors": [{"name": "Quilliam Bexqorth", "affiliation": "Clinic"}],
        },
    )
    dataset = catalogue.update_dataset(
        dataset=dataset, by=jane, description=f"Chest CT of {PATIENT_ID} and others."
    )
    dataset = catalogue.release_dataset(dataset=dataset, by=quilliam)
    dataset = catalogue.publish_dataset(dataset=dataset, by=quilliam)
    dataset = catalogue.update_dataset(
        dataset=dataset, by=jane, contact_email=QUILLIAM["email"], contact_name="Q. Bexqorth"
    )
    dataset = catalogue.invalidate_dataset(dataset=dataset, by=quilliam, reason=REASON)
    dataset = catalogue.reactivate_dataset(dataset=dataset, by=jane)
    for user_id in (RESEARCHER_EMAIL, JANE["email"], JANE["username"]):
        with transaction.atomic():  # what a trace writer's POST does
            services.record(
                action=Action.USE_DATASETS,
                caller="sandbox-tool",
                user_id=user_id,
                dataset_ids=[str(dataset.pk)],
                tool_name="jupyter",
                tool_version="4.6",
            )
    settings.TRACER_BATCH_SIZE = 3
    services.anchor_pending()

    chain = services.chain_from_settings()
    assert verify_all(chain).ok
    traces = Trace.objects.all()
    assert traces.count() == 10 and not traces.filter(batch__isnull=True).exists()
    # The search finds what is there: the catalogue itself keeps the title and the reason.
    assert TITLE in rows_as_text(Dataset) and REASON in rows_as_text(LifecycleEvent)

    stored = "\n".join(rows_as_text(m) for m in apps.get_app_config("tracer").get_models())
    blobs = chain_bytes(chain, list(ChainContract.objects.all()), list(AnchorBatch.objects.all()))
    on_chain_text = "\n".join(blob.decode("latin-1") for blob in blobs).lower()
    on_chain_hex = "\n".join(blob.hex() for blob in blobs)
    for secret in SECRETS:
        assert secret.lower() not in stored.lower(), f"{secret!r} is stored by the tracer"
        assert secret.lower() not in on_chain_text, f"{secret!r} is on chain"
        for variant in {secret, secret.lower(), secret.upper()}:
            assert variant.encode().hex() not in on_chain_hex, f"{secret!r} is on chain (hex)"


@pytest.mark.django_db
def test_a_study_id_chosen_by_the_provider_is_not_stored_in_clear(make_dataset):
    make_dataset(studies=[{"id": PATIENT_ID, "sha3_256": "ab" * 32}])

    stored = "\n".join(rows_as_text(m) for m in apps.get_app_config("tracer").get_models())

    assert PATIENT_ID not in stored
