from django.db import connection

from contacts.models import Contact
from tests.conftest import client_for, in_schema
from tests.factories import ContactFactory


def test_tenant_schemas_hold_separate_contacts(tenant, other_tenant):
    ContactFactory(email="only@alpha.example.com")
    with in_schema(other_tenant):
        assert Contact.objects.count() == 0
    assert connection.schema_name == tenant.schema_name
    assert list(Contact.objects.values_list("email", flat=True)) == ["only@alpha.example.com"]


def test_unknown_host_gets_helpful_404(db):
    response = client_for_host("nowhere.localhost").get("/")
    assert response.status_code == 404
    assert b"No workspace at nowhere.localhost" in response.content


def test_tenant_page_needs_login(tenant):
    response = client_for(tenant).get("/contacts/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/contacts/")


def client_for_host(host):
    from django.test import Client

    return Client(HTTP_HOST=host)


def test_pages_load_assets_from_the_app_only(tenant, marketer_client):
    import re

    for path in ("/contacts/", "/contacts/new/", "/settings/", "/api/v1/docs"):
        body = marketer_client.get(path).content.decode()
        sources = re.findall(r'(?:src|href)="([^"]+)"', body)
        assert sources, path
        external = [s for s in sources if s.startswith(("http://", "https://", "//"))]
        assert external == [], (path, external)
    login_page = client_for(tenant).get("/accounts/login/").content.decode()
    assert '<link rel="stylesheet" href="/static/css/app.css">' in login_page
