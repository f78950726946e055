"""The tenant admin (support staff) shows one tenant's data only."""

from contacts.models import Contact
from tests.conftest import client_for, in_schema, make_staff
from tests.factories import ContactFactory, CustomFieldFactory, TagFactory


def test_admin_of_other_tenant_sees_nothing_of_tenant(tenant, other_tenant):
    contact = ContactFactory(email="secret@alpha-only.example.com", company="Alpha Secrets")
    TagFactory(name="alpha-only-tag")
    CustomFieldFactory(key="alpha_only_field", label="Alpha only field")
    own = client_for(tenant, make_staff(tenant, "staff@alpha.example.com"))
    other = client_for(other_tenant, make_staff(other_tenant, "staff@beta.example.com"))

    assert b"secret@alpha-only.example.com" in own.get("/admin/contacts/contact/").content
    for path in ("/admin/contacts/contact/", "/admin/contacts/contact/?q=secret",
                 "/admin/contacts/tag/", "/admin/contacts/customfield/"):
        body = other.get(path).content
        assert other.get(path).status_code == 200
        assert b"secret@alpha-only.example.com" not in body
        assert b"alpha-only-tag" not in body
        assert b"Alpha only field" not in body

    response = other.get(f"/admin/contacts/contact/{contact.pk}/change/", follow=True)
    assert b"Alpha Secrets" not in response.content
    assert b"doesn\xe2\x80\x99t exist" in response.content
    with in_schema(other_tenant):
        assert not Contact.objects.filter(email_normalized="secret@alpha-only.example.com").exists()


def test_admin_session_of_tenant_does_not_open_other_tenants_admin(tenant, other_tenant):
    own = client_for(tenant, make_staff(tenant, "staff2@alpha.example.com"))
    assert own.get("/admin/").status_code == 200
    response = own.get("/admin/", HTTP_HOST="beta.localhost")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
