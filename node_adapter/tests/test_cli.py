"""`agora-node` end to end in a subprocess, its settings and its errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from rdflib import Graph

from node_adapter.config import ConfigError, load_settings
from node_adapter.tests.dicom_factory import make_study, phi_values, write_study

SECRET = "cli-tests-site-secret-0123456789"
COMMANDS = ("ingest", "describe", "listen", "serve", "push", "review")


def agora_node(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None):
    """Run `python -m node_adapter` with only the given AGORA_NODE_* settings."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("AGORA_NODE_")}
    return subprocess.run(
        [sys.executable, "-m", "node_adapter", *args],
        env={**base, **(env or {})},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def incoming(tmp_path: Path):
    a = make_study("PAT-001", "DOE^JANE", "19700304", "F", series=2, instances=2)
    b = make_study("PAT-002", "ROE^RICHARD", "19561111", "M", modality="MR", instances=2)
    write_study(a, tmp_path / "incoming" / "a")
    write_study(b, tmp_path / "incoming" / "b")
    (tmp_path / "incoming" / "readme.txt").write_text("not an image")
    return tmp_path / "incoming", a + b


def test_ingest_then_describe_end_to_end(tmp_path, incoming):
    folder, datasets = incoming
    lake = tmp_path / "lake"
    env = {"AGORA_NODE_SITE_SECRET": SECRET, "AGORA_NODE_SITE_ID": "clinic-a"}
    run = agora_node(
        "ingest", "--source", str(folder), "--lake", str(lake), "--dataset", "chest",
        "--title", "Chest CT and head MR", "-v", env=env,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "received=9 stored=8 unchanged=0 quarantined=1" in run.stdout
    assert "dataset=chest version=1" in run.stdout
    again = agora_node("ingest", "--source", str(folder), "--lake", str(lake), env=env)
    assert "stored=0 unchanged=8" in again.stdout
    for output in (run.stdout + run.stderr, again.stdout + again.stderr):
        assert SECRET not in output
        assert [v for v in phi_values(datasets) if v in output] == []

    miabis = agora_node(
        "describe", "--lake", str(lake), "--dataset", "chest", "--format", "miabis", env=env
    )
    assert miabis.returncode == 0, miabis.stderr
    collection = json.loads(miabis.stdout)
    assert collection["numberOfSubjects"] == 2
    assert set(collection["imagingModality"]) == {"CT", "MR"}
    turtle = agora_node("describe", "--lake", str(lake), "--dataset", "chest", env=env)
    assert turtle.returncode == 0, turtle.stderr
    assert len(Graph().parse(data=turtle.stdout, format="turtle")) > 0
    assert [v for v in phi_values(datasets) if v in miabis.stdout + turtle.stdout] == []


def test_ingest_without_a_site_secret_is_refused_plainly(tmp_path, incoming):
    folder, _ = incoming
    run = agora_node("ingest", "--source", str(folder), "--lake", str(tmp_path / "lake"))
    assert run.returncode == 2
    assert "site secret is missing" in run.stderr and "Traceback" not in run.stderr
    assert not (tmp_path / "lake").exists()


def test_a_short_site_secret_is_refused_without_being_printed(tmp_path, incoming):
    folder, _ = incoming
    env = {"AGORA_NODE_SITE_SECRET": "tooShort1234"}
    run = agora_node("ingest", "--source", str(folder), "--lake", str(tmp_path / "l"), env=env)
    assert run.returncode == 2 and "too short" in run.stderr
    assert "tooShort1234" not in run.stdout + run.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (("describe", "--lake", "{tmp}/none", "--dataset", "x"), "no lake at"),
        (("describe", "--dataset", "x"), "no lake"),
        (("ingest", "--source", "{tmp}/missing", "--lake", "{tmp}/l"), "source not found"),
        (("review", "--config", "{tmp}/missing.toml", "--lake", "{tmp}"), "config file not found"),
        (("push", "--lake", "{tmp}/none"), "push needs --hub, --token, --node-id"),
    ],
)
def test_usage_errors_exit_with_status_2_and_a_message(tmp_path, args, message):
    env = {"AGORA_NODE_SITE_SECRET": SECRET}
    run = agora_node(*(a.format(tmp=tmp_path) for a in args), env=env)
    assert run.returncode == 2, run.stderr
    assert message in run.stderr and "Traceback" not in run.stderr


def test_an_unknown_dataset_is_an_error(tmp_path, incoming):
    folder, _ = incoming
    env = {"AGORA_NODE_SITE_SECRET": SECRET, "AGORA_NODE_LAKE": str(tmp_path / "lake")}
    assert agora_node("ingest", "--source", str(folder), env=env).returncode == 0
    run = agora_node("describe", "--dataset", "nothing", env=env)
    assert run.returncode == 2 and "no dataset named 'nothing'" in run.stderr


def test_review_lists_and_resolves_flags(tmp_path):
    write_study(make_study("PAT-001", "DOE^JANE", "19700304", "F"), tmp_path / "a")
    write_study(make_study("PAT-001", "SMITH^ANNA", "19810101", "F", study_key="2"), tmp_path / "b")
    env = {"AGORA_NODE_SITE_SECRET": SECRET, "AGORA_NODE_LAKE": str(tmp_path / "lake")}
    assert agora_node("ingest", "--source", str(tmp_path / "a"), env=env).returncode == 0
    assert agora_node("review", env=env).stdout.strip() == "no open flags"
    assert agora_node("ingest", "--source", str(tmp_path / "b"), env=env).returncode == 0
    listed = agora_node("review", env=env)
    assert listed.returncode == 0 and "same_id_other_demographics" in listed.stdout
    flag_id = listed.stdout.splitlines()[1].split()[0]
    resolved = agora_node("review", "resolve", flag_id, "--note", "same person, renamed", env=env)
    assert resolved.returncode == 0, resolved.stderr
    assert "same_id_other_demographics" not in agora_node("review", env=env).stdout
    assert "same person, renamed" in agora_node("review", "--all", env=env).stdout
    missing = agora_node("review", "resolve", "999", "--note", "x", env=env)
    assert missing.returncode == 2 and "no flag with id 999" in missing.stderr


def test_every_command_documents_itself_and_nothing_imports_django():
    script = (
        "import sys\n"
        "from node_adapter.cli import main\n"
        f"for command in {COMMANDS!r}:\n"
        "    try:\n"
        "        main([command, '--help'])\n"
        "    except SystemExit as exit:\n"
        "        assert exit.code == 0\n"
        "print('django' in sys.modules, any(m.startswith('django') for m in sys.modules))\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip().splitlines()[-1] == "False False"
    for command in COMMANDS:
        assert f"usage: agora-node {command}" in run.stdout
    assert "--source" in run.stdout and "--format" in run.stdout and "--ae-title" in run.stdout


def test_settings_come_from_file_then_environment_then_flags(tmp_path):
    config = tmp_path / "agora-node.toml"
    config.write_text(
        'site_id = "from-file"\nlake = "/srv/file-lake"\nhub_url = "https://hub.example"\n'
        'listen_port = 4242\nretain_device_identity = true\nsafe_private_tags = ["0009,ACME HOSPITAL PACS,03"]\n'
    )
    env = {"AGORA_NODE_CONFIG": str(config), "AGORA_NODE_LAKE": "/srv/env-lake"}
    settings = load_settings(env=env, overrides={"site_id": "from-flag", "hub_url": None})
    assert settings.site_id == "from-flag"  # flag over file
    assert settings.lake == Path("/srv/env-lake")  # environment over file
    assert settings.hub_url == "https://hub.example"  # a flag not given changes nothing
    assert settings.listen_port == 4242 and settings.retain_device_identity is True
    secret_env = {**env, "AGORA_NODE_SITE_SECRET": SECRET}
    deid = load_settings(env=secret_env).deid_config()
    assert deid.site_secret == SECRET.encode()
    assert deid.safe_private_tags == frozenset({(0x0009, "ACME HOSPITAL PACS", 0x03)})
    assert SECRET not in repr(load_settings(env=secret_env))


def test_the_site_secret_can_live_in_its_own_file(tmp_path):
    secret_file = tmp_path / "site-secret"
    secret_file.write_text(SECRET + "\n")
    settings = load_settings(env={"AGORA_NODE_SITE_SECRET_FILE": str(secret_file)})
    assert settings.secret() == SECRET.encode()


@pytest.mark.parametrize(
    "content, message",
    [
        ("sight_id = 'typo'\n", "unknown setting"),
        ("listen_port = 'many'\n", "whole number"),
        ("retain_device_identity = 'perhaps'\n", "true or false"),
        ("safe_private_tags = ['0009']\n", "is not a private tag"),
        ("safe_private_tags = ['0008,ACME,03']\n", "is not a private tag"),
        ("site_id = \n", "not valid TOML"),
    ],
)
def test_bad_config_files_are_explained(tmp_path, content, message):
    config = tmp_path / "agora-node.toml"
    config.write_text(content)
    with pytest.raises(ConfigError, match=message):
        load_settings(config, env={})


def test_missing_or_short_secrets_are_config_errors():
    with pytest.raises(ConfigError, match="missing"):
        load_settings(env={}).secret()
    with pytest.raises(ConfigError, match="at least 16 bytes"):
        load_settings(env={"AGORA_NODE_SITE_SECRET": "x" * 15}).secret()


def test_bad_names_busy_ports_and_files_as_lakes_are_plain_errors(tmp_path, incoming):
    import socket

    folder, _ = incoming
    env = {"AGORA_NODE_SITE_SECRET": SECRET}
    lake = tmp_path / "lake"
    bad_name = agora_node(
        "ingest", "--source", str(folder), "--lake", str(lake), "--dataset", "../x", env=env
    )
    assert bad_name.returncode == 2 and "Traceback" not in bad_name.stderr
    assert "invalid dataset name" in bad_name.stderr
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    as_lake = agora_node("ingest", "--source", str(folder), "--lake", str(not_a_folder), env=env)
    assert as_lake.returncode != 0 and "Traceback" not in as_lake.stderr
    agora_node("ingest", "--source", str(folder), "--lake", str(lake), env=env)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = str(busy.getsockname()[1])
        serve = agora_node("serve", "--lake", str(lake), "--port", port, env=env)
    assert serve.returncode == 1 and "Traceback" not in serve.stderr
    assert "in use" in serve.stderr
    resolve = agora_node("review", "--lake", str(lake), "resolve", "99", "--note", "x", env=env)
    assert "no lake" not in resolve.stderr and "Traceback" not in resolve.stderr
