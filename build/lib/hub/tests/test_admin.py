from hub.models import Role, RoleAssignment


def test_hub_admin_gives_a_provider_role_on_the_user_page(admin_client, django_user_model, org_a):
    person = django_user_model.objects.create_user(username="newcomer", password="x" * 16)
    page = admin_client.get(f"/admin/auth/user/{person.pk}/change/")
    assert page.status_code == 200
    assert "role_assignments-TOTAL_FORMS" in page.content.decode()

    form = {
        "username": "newcomer",
        "is_active": "on",
        "date_joined_0": "2026-01-01",
        "date_joined_1": "00:00:00",
        "role_assignments-TOTAL_FORMS": "1",
        "role_assignments-INITIAL_FORMS": "0",
        "role_assignments-0-role": Role.PROVIDER,
        "role_assignments-0-organisation": str(org_a.pk),
        "role_assignments-0-project_code": "",
        "role_assignments-0-source": "manual",
    }
    response = admin_client.post(f"/admin/auth/user/{person.pk}/change/", form)

    assert response.status_code == 302, response.content.decode()[:2000]
    assert RoleAssignment.objects.filter(
        user=person, role=Role.PROVIDER, organisation=org_a
    ).exists()


def test_organisations_are_managed_in_the_admin(admin_client):
    response = admin_client.post(
        "/admin/hub/organisation/add/",
        {
            "slug": "hospital-c",
            "name": "Hospital C",
            "country": "FR",
            "roles-TOTAL_FORMS": "0",
            "roles-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302
    from hub.models import Organisation

    assert Organisation.objects.get(slug="hospital-c").name == "Hospital C"


def test_non_staff_provider_cannot_open_the_admin(client, provider_a):
    client.force_login(provider_a)
    response = client.get("/admin/hub/organisation/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
