"""`manage.py load_demo`: the demo a newcomer sees after `make demo`."""

import re
import socket
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import RequestFactory

from catalogue import demo_data
from catalogue.models import Dataset, LifecycleEvent, ZenodoSync
from hub.auth import ApiTokenAuthentication
from hub.models import ApiToken, Organisation, Role, RoleAssignment

User = get_user_model()
State = Dataset.State
HUMAN_ACCOUNTS = (
    "provider-lafe",
    "provider-int",
    "committee-lafe",
    "committee-int",
    "researcher",
    "hubadmin",
)
TOKEN = re.compile(r"^\s+(agora_\S+)$", re.MULTILINE)


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    # The demo's passwords are fixed; hashing them slowly proves nothing here.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def own_ports_and_var_dir(settings, tmp_path):
    """The demo nodes on free ports (a running `make demo` holds 8001 and 8002), and the
    demo lake in a folder of the test's own."""
    settings.VAR_DIR = tmp_path
    settings.DEMO_NODE_PORT, settings.DEMO_AGORA_NODE_PORT = free_port(), free_port()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def load_demo(*args) -> str:
    out = StringIO()
    call_command("load_demo", *args, stdout=out)
    return out.getvalue()


def printed_password(output: str, username: str) -> str:
    row = next(line.split() for line in output.splitlines() if line.split()[:1] == [username])
    return row[1]


def snapshot() -> dict:
    return {
        "organisations": sorted(Organisation.objects.values_list("slug", flat=True)),
        "users": sorted(User.objects.values_list("username", flat=True)),
        "roles": sorted(
            RoleAssignment.objects.values_list(
                "user__username", "role", "organisation__slug", "project_code"
            )
        ),
        "tokens": ApiToken.objects.count(),
        "datasets": sorted(Dataset.objects.values_list("identifier", "version", "state", "title")),
        "facets": sum(len(keys) for keys in Dataset.objects.values_list("facet_keys", flat=True)),
        "events": LifecycleEvent.objects.count(),
    }


@pytest.fixture
def output(db):
    return load_demo()


def roles_of(username):
    return set(
        RoleAssignment.objects.filter(user__username=username).values_list(
            "role", "organisation__slug", "project_code"
        )
    )


def test_demo_creates_two_organisations_without_zenodo(output):
    organisations = {o.slug: o for o in Organisation.objects.all()}
    assert set(organisations) == {"la-fe", "int-milano"}
    assert organisations["la-fe"].name == "Hospital Universitari La Fe"
    assert organisations["la-fe"].country == "ES"
    assert organisations["int-milano"].name == "Istituto Tumori Milano"
    assert organisations["int-milano"].country == "IT"
    assert not any(o.dois_enabled for o in organisations.values())
    assert ZenodoSync.objects.count() == 0  # nothing was queued for Zenodo


def test_demo_has_one_account_per_role(output):
    assert roles_of("provider-lafe") == {(Role.PROVIDER, "la-fe", "")}
    assert roles_of("provider-int") == {(Role.PROVIDER, "int-milano", "")}
    assert roles_of("committee-lafe") == {(Role.COMMITTEE_MEMBER, "la-fe", "")}
    assert roles_of("committee-int") == {(Role.COMMITTEE_MEMBER, "int-milano", "")}
    assert roles_of("researcher") == {
        (Role.RESEARCHER, None, ""),
        (Role.PROJECT_MEMBER, None, "LUNG-AI"),
    }
    assert roles_of("hubadmin") == {(Role.HUB_ADMIN, None, "")}
    assert roles_of("trace-writer") == {(Role.TRACE_WRITER, None, "")}

    admin = User.objects.get(username="hubadmin")
    assert admin.is_staff and admin.is_superuser
    assert admin.has_perm("hub.change_organisation")  # what the Django admin asks
    assert not User.objects.filter(username__in=HUMAN_ACCOUNTS[:5], is_staff=True).exists()
    assert not User.objects.get(username="trace-writer").has_usable_password()


def test_printed_credentials_name_every_account_and_they_work(output, client):
    for username in (*HUMAN_ACCOUNTS, "trace-writer"):
        assert re.search(rf"^\s+{re.escape(username)}\s", output, re.MULTILINE), username
    for username in HUMAN_ACCOUNTS:
        assert client.login(username=username, password=printed_password(output, username)), (
            username
        )
    (token,) = TOKEN.findall(output)
    request = RequestFactory().get("/api/v1/me/", HTTP_AUTHORIZATION=f"Token {token}")
    user, _ = ApiTokenAuthentication().authenticate(request)
    assert user.username == "trace-writer"


def test_researcher_signs_in_with_the_printed_password(output, client):
    password = printed_password(output, "researcher")
    assert client.login(username="researcher", password=password)
    assert not client.login(username="researcher", password=password + "x")


def generated():
    """The demo catalogue made through the services (not the harvested demo records)."""
    return Dataset.objects.filter(source_node="")


def test_about_two_hundred_datasets_in_several_states_across_both_organisations(output):
    first_versions = generated().filter(previous_version=None)
    assert first_versions.count() == demo_data.COUNT
    assert "datasets 50/200" in output and "datasets 200/200" in output

    by_org_state = {}
    for slug, state in generated().values_list("organisation__slug", "state"):
        by_org_state.setdefault(slug, set()).add(state)
    assert set(by_org_state) == {"la-fe", "int-milano"}
    for slug, states in by_org_state.items():
        assert {State.DRAFT, State.RELEASED, State.PUBLISHED} <= states, slug
    for slug in ("la-fe", "int-milano"):
        assert Dataset.objects.filter(organisation__slug=slug).count() > 50

    states = {s: generated().filter(state=s).count() for s in State.values}
    assert states[State.RELEASED] + states[State.PUBLISHED] > 150
    assert 10 <= states[State.DRAFT] <= 40
    assert 2 <= states[State.INVALIDATED] <= 10
    assert all(d.invalidation_reason for d in generated().filter(state=State.INVALIDATED))


def test_some_datasets_have_later_versions_with_more_subjects(output):
    successors = Dataset.objects.exclude(previous_version=None).select_related("previous_version")
    assert 5 <= successors.count() <= 30
    assert successors.filter(state=State.DRAFT).exists()  # a version in progress
    for new in successors:
        old = new.previous_version
        assert old.state in (State.RELEASED, State.PUBLISHED)
        assert new.identifier == old.identifier and int(new.version) == int(old.version) + 1
        assert new.number_of_subjects > old.number_of_subjects
        assert new.studies[: len(old.studies)] == old.studies  # versions share their studies
    assert successors.filter(previous_version__previous_version__isnull=False).exists()


def test_datasets_carry_facets_history_and_plausible_facts(output):
    facets = {
        tuple(key.split("=", 1))
        for keys in Dataset.objects.values_list("facet_keys", flat=True)
        for key in keys
    }
    for expected in [
        ("modality", "CT"),
        ("modality", "MR"),
        ("modality", "MG"),
        ("modality", "PT"),
        ("body_part", "CHEST"),
        ("body_part", "BREAST"),
        ("body_part", "PROSTATE"),
        ("body_part", "BRAIN"),
        ("body_part", "WHOLEBODY"),
        ("diagnosis", "C34"),
        ("diagnosis", "C50"),
        ("diagnosis", "C61"),
        ("diagnosis", "C71"),
        ("diagnosis", "C74.9"),
        ("diagnosis", "C78.7"),
        ("diagnosis", "C83.3"),
        ("provider", "la-fe"),
        ("provider", "int-milano"),
        ("access_rights", "PUBLIC"),
        ("access_rights", "RESTRICTED"),
        ("access_rights", "NON_PUBLIC"),
        ("duo", "DUO:0000042"),
        ("duo", "DUO:0000006"),
        ("duo", "DUO:0000007"),
        ("duo", "DUO:0000018"),
        ("duo", "DUO:0000021"),
        ("sex", "female"),
        ("sex", "male"),
        ("age", "0-9"),
    ]:
        assert expected in facets, expected

    for dataset in generated():
        assert (
            dataset.events.filter(action=LifecycleEvent.Action.CREATE).exists()
            or dataset.previous_version
        )
        assert sum(dataset.sex_counts.values()) == dataset.number_of_subjects
        assert dataset.number_of_studies >= dataset.number_of_subjects
        assert 0 <= dataset.age_min <= dataset.age_max
        assert 3 <= len(dataset.studies) <= 10
        assert all(re.fullmatch(r"[0-9a-f]{64}", s["sha3_256"]) for s in dataset.studies)
        assert dataset.license in (demo_data.CC_BY, demo_data.CC_BY_NC)
        assert dataset.authors and dataset.contact_email.endswith(".example")
        assert dataset.identifier.startswith("urn:agora-demo:")
        if "C61" in dataset.diagnoses:  # prostate
            assert set(dataset.sex_counts) == {"male"}
        if "C74.9" in dataset.diagnoses:  # neuroblastoma
            assert dataset.age_max <= 12


def test_demo_nodes_show_every_harvest_result(output):
    from harvester.models import HarvestJob, Node

    pulled = Node.objects.get(name="Hospital node (demo, pull)")
    runs = list(pulled.jobs.order_by("created"))
    assert [r.status for r in runs] == ["succeeded"] * 2 + ["failed"] + ["succeeded"] * 2
    totals = {name: sum(getattr(r, name) for r in runs) for name in runs[0].counts}
    assert all(totals.values()), totals  # added, updated, unchanged, withdrawn, rejected
    assert "503" in runs[2].error and runs[-1].pages_not_modified == runs[-1].pages_done
    withdrawn = Dataset.objects.filter(source_node=pulled.source_label, state="invalidated")
    assert withdrawn.count() == 2
    assert set(withdrawn.values_list("invalidation_reason", flat=True)) == {"withdrawn at source"}
    pushed = Node.objects.get(name="Biobank node (demo, MIABIS push)")
    assert pushed.jobs.get().kind == HarvestJob.Kind.PUSH and pushed.jobs.get().added == 2
    assert "Hospital node (demo, pull): pull failed" in output


def test_running_twice_changes_nothing(output):
    before = snapshot()
    again = load_demo()
    assert snapshot() == before
    assert "nothing added" in again
    assert not TOKEN.findall(again)  # stored hashed: the token is printed only when made
    assert printed_password(again, "researcher") == printed_password(output, "researcher")


def test_reset_reloads_the_same_demo(output, client):
    before = snapshot()
    user_pk = User.objects.get(username="researcher").pk
    reloaded = load_demo("--reset")
    after = snapshot()
    assert after["datasets"] == before["datasets"]
    assert after == before
    assert User.objects.get(username="researcher").pk != user_pk
    assert len(TOKEN.findall(reloaded)) == 1
    assert client.login(username="researcher", password=printed_password(reloaded, "researcher"))


def test_reset_leaves_other_organisations_alone(output, make_dataset, org_a):
    other = make_dataset("released")
    load_demo("--reset")
    assert Dataset.objects.filter(pk=other.pk).exists()
    assert Organisation.objects.filter(pk=org_a.pk).exists()


def test_generated_datasets_are_deterministic():
    organisations = {"la-fe": "Hospital Universitari La Fe", "int-milano": "Istituto Tumori Milano"}
    first = demo_data.generate(organisations)
    assert first == demo_data.generate(organisations)
    assert len({spec.identifier for spec in first}) == len(first) == demo_data.COUNT
    assert len({spec.fields["title"] for spec in first}) == len(first)


def test_demo_requests_show_the_committees_at_work(output):
    from access_requests.models import AccessRequest, Entitlement

    states = sorted(AccessRequest.objects.values_list("state", flat=True))
    assert states == ["draft", "partially_approved", "under_review"]
    assert sorted(Entitlement.objects.values_list("state", flat=True)) == ["active", "revoked"]
    waiting = AccessRequest.objects.get(state="under_review")
    assert waiting.parts.filter(messages__isnull=False).exists()
    assert "project LUNG-AI: 3 requests" in output


def test_the_demo_provider_node_is_a_real_lake_harvested_by_the_hub(output, settings):
    assert "La Fe imaging node (agora-node, demo): pull succeeded: 2 added" in output
    lake = settings.VAR_DIR / "demo-lake"
    assert sorted(p.name for p in (lake / ".agora" / "datasets").iterdir()) == [
        "glioma-mr",
        "lung-ct-screening",
    ]
    harvested = Dataset.objects.filter(title__endswith="(agora-node demo)")
    assert harvested.count() == 2
    lung = harvested.get(title__startswith="Lung")
    assert lung.number_of_subjects == 12 and lung.modalities == ["CT"]
    assert "DEMO^PATIENT" not in lung.source_rdf
