"""GA4GH Passport visas for the members of a project with an active entitlement."""

import jwt
import pytest

from access_requests import services
from access_requests.models import Entitlement
from access_requests.tests.workflow import approve_all, part_of, submitted


@pytest.fixture
def entitlement(setup, people, org_b, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    request = submitted(setup, people)
    b = part_of(request, org_b)
    services.decide(part=b, by=people["b1"], decisions=approve_all(b))
    return Entitlement.objects.get()


def test_a_member_gets_a_visa_that_verifies_with_the_jwks(api, entitlement, people, settings):
    response = api.as_(people["researcher"]).get(f"/api/v1/entitlements/{entitlement.pk}/visa/")
    assert response.status_code == 200
    token = response.json()["visa"]
    keys = api.anonymous().get("/api/v1/passport/jwks").json()["keys"]
    header = jwt.get_unverified_header(token)
    key = next(k for k in keys if k["kid"] == header["kid"])
    claims = jwt.decode(token, jwt.PyJWK(key).key, algorithms=["RS256"])
    visa = claims["ga4gh_visa_v1"]
    assert claims["sub"] == "researcher" and claims["iss"] == settings.SITE_URL + "/"
    assert visa["type"] == "ControlledAccessGrants" and visa["by"] == "dac"
    assert visa["value"].endswith(f"/datasets/{entitlement.dataset_id}/")
    assert claims["exp"] - claims["iat"] <= 3600


def test_no_visa_for_outsiders_or_ended_access(api, entitlement, people):
    url = f"/api/v1/entitlements/{entitlement.pk}/visa/"
    assert api.as_(people["a1"]).get(url).status_code == 404  # not their committee's dataset
    assert api.as_(people["b1"]).get(url).status_code == 403  # the committee is no member
    services.revoke_entitlement(entitlement=entitlement, by=people["b1"], reason="Ended.")
    refused = api.as_(people["researcher"]).get(url)
    assert refused.status_code == 409 and refused.json()["current_state"] == "revoked"


def test_a_tampered_visa_does_not_verify(api, entitlement, people):
    token = (
        api.as_(people["researcher"])
        .get(f"/api/v1/entitlements/{entitlement.pk}/visa/")
        .json()["visa"]
    )
    head, body, signature = token.split(".")
    forged = jwt.encode({"sub": "someone-else"}, "x", algorithm="HS256").split(".")[1]
    key = api.anonymous().get("/api/v1/passport/jwks").json()["keys"][0]
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(f"{head}.{forged}.{signature}", jwt.PyJWK(key).key, algorithms=["RS256"])


def test_server_processes_starting_together_share_one_signing_key(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    from access_requests.visas import _local_key_pem

    with ThreadPoolExecutor(8) as pool:
        keys = set(pool.map(lambda _: _local_key_pem(tmp_path), range(8)))
    assert len(keys) == 1 and "PRIVATE KEY" in keys.pop()
    assert [p.name for p in tmp_path.iterdir()] == ["passport-signing-key.pem"]
