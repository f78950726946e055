"""Contacts migration 0013: the search index holds the lower-cased runs of letters and digits of
a contact's email, names and company (contacts.models.SearchWords), and search asks for every
word of the query as a prefix of one of them."""

import pytest
from django.db import connection

from contacts import services
from contacts.models import Contact, search_document
from contacts.selectors import search_contacts
from tests.conftest import in_schema

PEOPLE = [
    {"email": "jl_smith+news@Mail.Example.co.uk", "first_name": "Jean-Luc",
     "last_name": "O'Brien", "company": "AT&T Inc."},
    {"email": "jozef@przyklad.pl", "first_name": "JÓZEF", "last_name": "Ężyk",
     "company": "Łódź Software"},
    {"email": "kim@corp.example", "first_name": "Min-jun", "last_name": "Kim",
     "company": "東京 Trading"},
    {"email": "luca@example.com", "first_name": "Luca", "last_name": "Rossi",
     "company": "Acme"},
]


def _found(text: str) -> list[str]:
    return sorted(search_contacts(Contact.objects.all(), text).values_list(
        "email_normalized", flat=True))


@pytest.fixture
def people(tenant):
    for data in PEOPLE:
        services.create_contact(data=data)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("jean", ["jl_smith+news@mail.example.co.uk"]),  # a part of a hyphenated name
        ("luc", ["jl_smith+news@mail.example.co.uk", "luca@example.com"]),  # a prefix
        ("jean-luc", ["jl_smith+news@mail.example.co.uk"]),
        ("brien", ["jl_smith+news@mail.example.co.uk"]),  # after an apostrophe
        ("O'BRIEN at&t", ["jl_smith+news@mail.example.co.uk"]),
        ("smith", ["jl_smith+news@mail.example.co.uk"]),  # after an underscore in the email
        ("jl_smith", ["jl_smith+news@mail.example.co.uk"]),
        ("news", ["jl_smith+news@mail.example.co.uk"]),  # after a '+'
        ("mail.example", ["jl_smith+news@mail.example.co.uk"]),  # domain labels
        ("co uk", ["jl_smith+news@mail.example.co.uk"]),
        ("józef", ["jozef@przyklad.pl"]),  # non-ASCII, stored in capitals
        ("ĘŻYK", ["jozef@przyklad.pl"]),  # non-ASCII, asked in capitals
        ("łódź soft", ["jozef@przyklad.pl"]),
        ("東京", ["kim@corp.example"]),
        ("min jun kim", ["kim@corp.example"]),
        ("example", ["jl_smith+news@mail.example.co.uk", "kim@corp.example",
                     "luca@example.com"]),
        ("luca acme", ["luca@example.com"]),  # every word must match
        ("luca globex", []),
        ("uc", []),  # inside a word is not a prefix
        ("inc jean", ["jl_smith+news@mail.example.co.uk"]),
    ],
)
def test_search_finds_word_prefixes_of_email_names_and_company(people, query, expected):
    assert _found(query) == expected


@pytest.mark.parametrize("query", [
    "jean') | ('x", "jean & !x", "jean:* | luca", "(jean", "jean\\", "'", "&|!():*<->",
    "jean " + "x" * 3000, " ".join(["jean"] * 50),
])
def test_tsquery_syntax_in_the_query_is_taken_as_words(people, query):
    # Operators and quotes are not letters or digits: they separate words and never reach
    # the tsquery as syntax (no error, no OR).
    found = _found(query)
    assert "luca@example.com" not in found
    assert found in ([], ["jl_smith+news@mail.example.co.uk"])


def test_search_words_are_answered_by_the_search_index(people):
    sql, params = search_contacts(Contact.objects.order_by(), "jean o brien").values(
        "id").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "contact_search_idx" in plan
    assert "Seq Scan" not in plan


def test_other_tenant_finds_none_of_the_tenants_contacts(people, other_tenant):
    assert _found("jean") == ["jl_smith+news@mail.example.co.uk"]
    with in_schema(other_tenant):
        assert _found("jean") == []
        assert _found("jl_smith") == []
        services.create_contact(data={"email": "jean@other.example"})
        assert _found("jean") == ["jean@other.example"]
    assert _found("jean") == ["jl_smith+news@mail.example.co.uk"]


def test_search_document_holds_the_words_and_not_the_whole_email(people):
    document = Contact.objects.filter(email_normalized__startswith="jl_").annotate(
        doc=search_document()).values_list("doc", flat=True).get()
    lexemes = {part.split(":")[0].strip("'") for part in document.split()}
    assert lexemes == {"jl", "smith", "news", "mail", "example", "co", "uk", "jean", "luc",
                       "o", "brien", "at", "t", "inc"}
