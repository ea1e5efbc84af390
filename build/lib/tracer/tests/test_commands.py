"""The operators' commands and the backlog shown by /healthz."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from hub.health import check_tracer
from tracer import services
from tracer.models import ChainContract
from tracer.tests.factories import record_use


@pytest.mark.django_db
def test_tracer_contract_deploys_once_and_names_the_address(in_process_chain, capsys):
    call_command("tracer_contract")
    first = capsys.readouterr().out
    call_command("tracer_contract")
    again = capsys.readouterr().out

    address = ChainContract.objects.get().address
    assert f"contract  {address}" in first and "deployed  in transaction 0x" in first
    assert f"contract  {address}" in again
    assert ChainContract.objects.count() == 1


@pytest.mark.django_db
def test_anchor_traces_reports_what_it_anchored(in_process_chain, capsys, settings):
    settings.TRACER_BATCH_SIZE = 2
    record_use(3)

    call_command("anchor_traces")

    assert capsys.readouterr().out.strip() == "anchored 3 traces in 2 batches"


@pytest.mark.django_db
def test_anchor_traces_with_the_chain_down_says_nothing_is_lost(settings):
    settings.CHAIN_RPC_URL = "http://127.0.0.1:9"  # nothing listens on the discard port
    settings.CHAIN_TIMEOUT_SECONDS = 1
    record_use(1)

    with pytest.raises(CommandError, match="chain node unreachable.*nothing is lost"):
        call_command("anchor_traces")
    assert check_tracer()["pending_traces"] == 1


@pytest.mark.django_db
def test_healthz_tracer_check_shows_the_backlog(in_process_chain):
    record_use(2)
    before = check_tracer()
    services.anchor_pending()
    after = check_tracer()

    assert before["pending_traces"] == 2 and before["oldest_pending_seconds"] >= 0
    assert after == {
        "status": "ok",
        "pending_traces": 0,
        "oldest_pending_seconds": 0,
        "batches_anchored": 1,
        "batches_waiting": 0,
    }


@pytest.mark.django_db
def test_a_trace_writer_account_needs_a_name_that_can_be_a_trace_caller():
    with pytest.raises(CommandError, match="must be an identifier"):
        call_command("create_api_token", "tool@site", "--machine-role", "trace_writer")
    with pytest.raises(CommandError, match="the hub's own trace callers"):
        call_command("create_api_token", "hub.catalogue", "--machine-role", "trace_writer")
    call_command("create_api_token", "sandbox-tool", "--machine-role", "trace_writer")
