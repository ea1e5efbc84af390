import pytest

from harvester import services


@pytest.fixture
def push_node(org_a, hub_admin):
    """A push-only node of organisation A and its token."""
    node, token = services.register_node(
        by=hub_admin, organisation=org_a, name="Hospital A push", mode="push"
    )
    return node, token
