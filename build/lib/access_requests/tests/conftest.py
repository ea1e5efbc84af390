import pytest

from access_requests import services
from access_requests.models import Committee
from conftest import make_user
from hub.models import Role


@pytest.fixture
def people(django_user_model, org_a, org_b, researcher):
    def committee(name, org):
        return make_user(django_user_model, name, (Role.COMMITTEE_MEMBER, org, ""))

    return {
        "researcher": researcher,
        "a1": committee("a1", org_a),
        "a2": committee("a2", org_a),
        "a3": committee("a3", org_a),
        "b1": committee("b1", org_b),
    }


@pytest.fixture
def setup(people, org_a, org_b, make_dataset, provider_b):
    project = services.create_project(
        by=people["researcher"], code="LUNG-AI", title="Lung AI", purpose="Nodule detection"
    )
    Committee.objects.create(
        organisation=org_a, rule=Committee.Rule.MAJORITY, quorum=2, chair=people["a1"]
    )
    Committee.objects.create(organisation=org_b, rule=Committee.Rule.ONE_APPROVER)
    datasets = [
        make_dataset("released", title="A one"),
        make_dataset("published", title="A two"),
        make_dataset("released", organisation=org_b, by=provider_b, title="B one"),
    ]
    return project, datasets
