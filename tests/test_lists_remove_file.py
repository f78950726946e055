"""Removing the contacts of a file from a list: the email column is found like the import
finds it, only members leave, the report counts the rest; hostile files and other tenants."""

from __future__ import annotations

import io

from django.core.files.uploadedfile import SimpleUploadedFile
from openpyxl import Workbook

from segments import services
from segments.models import ListChange, ListMembership, StaticList
from tests.conftest import client_for, in_schema, make_user
from tests.factories import ContactFactory


def fill(static_list: StaticList, *contacts) -> None:
    sql, params = services.ids_of([c.pk for c in contacts])
    services.add_contacts_to_list(static_list=static_list, ids_sql=sql, params=params,
                                  source="manual")


def members(static_list: StaticList) -> list[str]:
    return sorted(ListMembership.objects.filter(static_list=static_list)
                  .values_list("contact__email", flat=True))


def upload(name: str, content: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="application/octet-stream")


def test_file_contacts_leave_the_list_and_the_rest_is_counted(tenant, marketer, marketer_client):
    spring = services.create_list(name="Spring")
    ann, bo, cy = (ContactFactory(email=e) for e in ("ann@x.com", "bo@x.com", "cy@x.com"))
    outsider = ContactFactory(email="out@x.com")
    fill(spring, ann, bo, cy)
    csv = (b"Column 1;Note\nANN@X.com;a\nbo@x.com;b\nbo@x.com;again\nout@x.com;c\n"
           b"nobody@x.com;d\nnot an email;e\n")
    response = marketer_client.post(f"/lists/{spring.pk}/remove-file/",
                                    {"file": upload("leavers.csv", csv)})
    page = response.content.decode()
    assert response.status_code == 200
    assert members(spring) == ["cy@x.com"]
    assert "<strong>2 contacts removed</strong>" in page
    assert "(emails read from the column “Column 1”, 6 rows)" in page
    assert "1 contact of the file was not in the list." in page
    assert "1 address belongs to no contact here." in page
    assert "1 row had no valid email address." in page
    change = ListChange.objects.filter(static_list=spring).order_by("-pk").first()
    assert (change.removed, change.source, change.actor_id) == (2, "csv", marketer.pk)
    # The contacts themselves stay.
    assert ann.__class__.objects.filter(pk__in=[ann.pk, bo.pk, outsider.pk]).count() == 3


def test_xlsx_file_works_too(tenant, marketer_client):
    spring = services.create_list(name="Spring")
    ann, bo = ContactFactory(email="ann@x.com"), ContactFactory(email="bo@x.com")
    fill(spring, ann, bo)
    book = Workbook()
    book.active.append(["E-mail Address", "Name"])
    book.active.append(["ann@x.com", "Ann"])
    buffer = io.BytesIO()
    book.save(buffer)
    marketer_client.post(f"/lists/{spring.pk}/remove-file/",
                         {"file": upload("leavers.xlsx", buffer.getvalue())})
    assert members(spring) == ["bo@x.com"]


def test_file_without_email_column_is_refused_and_removes_nothing(tenant, marketer_client):
    spring = services.create_list(name="Spring")
    fill(spring, ContactFactory(email="ann@x.com"))
    response = marketer_client.post(f"/lists/{spring.pk}/remove-file/",
                                    {"file": upload("names.csv", b"Name,City\nAnn,Paris\n")})
    assert response.status_code == 400
    assert "No column of email addresses was found in this file." in response.content.decode()
    assert members(spring) == ["ann@x.com"]


def test_binary_garbage_and_empty_files_are_refused(tenant, marketer_client):
    spring = services.create_list(name="Spring")
    fill(spring, ContactFactory(email="ann@x.com"))
    for name, content in (("x.csv", b""), ("x.xlsx", b"PK\x03\x04 not really a zip")):
        response = marketer_client.post(f"/lists/{spring.pk}/remove-file/",
                                        {"file": upload(name, content)})
        assert response.status_code == 400
    assert members(spring) == ["ann@x.com"]


def test_viewer_may_not_and_a_deleted_list_is_gone(tenant, viewer_client, marketer_client):
    spring = services.create_list(name="Spring")
    csv = upload("a.csv", b"email\nann@x.com\n")
    assert viewer_client.post(f"/lists/{spring.pk}/remove-file/", {"file": csv}).status_code == 403
    services.delete_list(static_list=spring)
    response = marketer_client.post(f"/lists/{spring.pk}/remove-file/",
                                    {"file": upload("a.csv", b"email\nann@x.com\n")})
    assert response.status_code == 404


def test_another_tenants_list_cannot_be_reached(tenant, other_tenant):
    spring = services.create_list(name="Spring")
    fill(spring, ContactFactory(email="ann@x.com"))
    with in_schema(other_tenant):
        theirs = client_for(other_tenant, make_user(other_tenant, "owner"))
        response = theirs.post(f"/lists/{spring.pk}/remove-file/",
                               {"file": upload("a.csv", b"email\nann@x.com\n")})
        assert response.status_code == 404
    assert members(spring) == ["ann@x.com"]
