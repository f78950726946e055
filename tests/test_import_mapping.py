"""imports.mapping: auto-mapping real exports' headers, checking mappings, presets."""

from __future__ import annotations

import re

import pytest

from contacts.models import CustomField
from imports.mapping import (
    MappingError,
    auto_map,
    clean_mapping,
    find_preset,
    headers_key,
    mapping_from_preset,
    new_field_key,
    normalise,
    save_preset,
)
from imports.models import MappingPreset
from tests.conftest import in_schema


def targets(headers: list[str], rows: list[list[str]] | None = None, custom_fields=()) -> dict:
    """{header: target} of auto_map, easier to read than column indexes."""
    mapping = auto_map(headers, rows or [], custom_fields=list(custom_fields))
    assert sorted(mapping, key=int) == [str(i) for i in range(len(headers))]
    return {header: mapping[str(i)] for i, header in enumerate(headers)}


def field(key: str, label: str, field_type: str = "text") -> CustomField:
    return CustomField(key=key, label=label, field_type=field_type)


# --- auto_map by header -------------------------------------------------------------------


def test_auto_map_google_contacts_export():
    headers = [
        "Name",
        "Given Name",
        "Additional Name",
        "Family Name",
        "E-mail 1 - Type",
        "E-mail 1 - Value",
        "E-mail 2 - Type",
        "E-mail 2 - Value",
        "Phone 1 - Type",
        "Phone 1 - Value",
        "Organization 1 - Name",
        "Organization 1 - Title",
        "Group Membership",
        "Website 1 - Value",
        "Address 1 - City",
        "Address 1 - Country",
    ]
    assert targets(headers) == {
        "Name": "full_name",
        "Given Name": "first_name",
        "Additional Name": "ignore",
        "Family Name": "last_name",
        "E-mail 1 - Type": "ignore",
        "E-mail 1 - Value": "email",
        "E-mail 2 - Type": "ignore",
        "E-mail 2 - Value": "ignore",
        "Phone 1 - Type": "ignore",
        "Phone 1 - Value": "phone",
        "Organization 1 - Name": "company",
        "Organization 1 - Title": "job_title",
        "Group Membership": "tags",
        "Website 1 - Value": "website",
        "Address 1 - City": "city",
        "Address 1 - Country": "country",
    }


def test_auto_map_outlook_export_prefers_job_title_over_salutation():
    headers = [
        "Title",
        "First Name",
        "Middle Name",
        "Last Name",
        "Suffix",
        "Company",
        "Department",
        "Job Title",
        "Business City",
        "Business Country/Region",
        "Business Phone",
        "Mobile Phone",
        "E-mail Address",
        "E-mail 2 Address",
        "Categories",
        "Web Page",
    ]
    assert targets(headers) == {
        "Title": "ignore",
        "First Name": "first_name",
        "Middle Name": "ignore",
        "Last Name": "last_name",
        "Suffix": "ignore",
        "Company": "company",
        "Department": "ignore",
        "Job Title": "job_title",
        "Business City": "city",
        "Business Country/Region": "country",
        "Business Phone": "phone",
        "Mobile Phone": "ignore",
        "E-mail Address": "email",
        "E-mail 2 Address": "ignore",
        "Categories": "tags",
        "Web Page": "website",
    }


def test_auto_map_hubspot_export():
    headers = [
        "Record ID",
        "First Name",
        "Last Name",
        "Email",
        "Phone Number",
        "Company Name",
        "Job Title",
        "City",
        "Country/Region",
        "Website URL",
        "Lifecycle Stage",
    ]
    assert targets(headers) == {
        "Record ID": "ignore",
        "First Name": "first_name",
        "Last Name": "last_name",
        "Email": "email",
        "Phone Number": "phone",
        "Company Name": "company",
        "Job Title": "job_title",
        "City": "city",
        "Country/Region": "country",
        "Website URL": "website",
        "Lifecycle Stage": "ignore",
    }


def test_auto_map_mailchimp_export():
    headers = [
        "Email Address",
        "First Name",
        "Last Name",
        "Address",
        "Phone Number",
        "Birthday",
        "TAGS",
        "MEMBER_RATING",
    ]
    assert targets(headers) == {
        "Email Address": "email",
        "First Name": "first_name",
        "Last Name": "last_name",
        "Address": "ignore",
        "Phone Number": "phone",
        "Birthday": "ignore",
        "TAGS": "tags",
        "MEMBER_RATING": "ignore",
    }


def test_auto_map_linkedin_connections_export():
    headers = [
        "First Name",
        "Last Name",
        "URL",
        "Email Address",
        "Company",
        "Position",
        "Connected On",
    ]
    assert targets(headers) == {
        "First Name": "first_name",
        "Last Name": "last_name",
        "URL": "ignore",
        "Email Address": "email",
        "Company": "company",
        "Position": "job_title",
        "Connected On": "ignore",
    }


def test_auto_map_apollo_export():
    headers = [
        "First Name",
        "Last Name",
        "Title",
        "Company",
        "Company Name for Emails",
        "Email",
        "Email Status",
        "Work Direct Phone",
        "Mobile Phone",
        "Corporate Phone",
        "Person Linkedin Url",
        "Website",
        "Company Linkedin Url",
        "City",
        "State",
        "Country",
        "Company City",
        "Company Country",
    ]
    assert targets(headers) == {
        "First Name": "first_name",
        "Last Name": "last_name",
        "Title": "job_title",
        "Company": "company",
        "Company Name for Emails": "ignore",
        "Email": "email",
        "Email Status": "ignore",
        "Work Direct Phone": "phone",
        "Mobile Phone": "ignore",
        "Corporate Phone": "ignore",
        "Person Linkedin Url": "ignore",
        "Website": "website",
        "Company Linkedin Url": "ignore",
        "City": "city",
        "State": "ignore",
        "Country": "country",
        "Company City": "ignore",
        "Company Country": "ignore",
    }


@pytest.mark.parametrize(
    ("header", "target"),
    [
        ("Corporate Phone", "phone"),
        ("Mobile Phone", "phone"),
        ("Company Name for Emails", "company"),
        ("Full Name", "full_name"),
        ("Name", "full_name"),
        ("Tags", "tags"),
        ("Labels", "tags"),
        ("Person Linkedin Url", "ignore"),
        ("  e-MAIL   address ", "email"),
        ("FIRST_NAME", "first_name"),
        ("last.name", "last_name"),
        ("Jobtitle", "job_title"),
        ("Prénom", "first_name"),
        ("prenom", "first_name"),
        ("Mobile Phone Number (Work)", "phone"),
        ("Billing City", "city"),
        ("Favourite colour", "ignore"),
    ],
)
def test_auto_map_single_header(header, target):
    assert targets([header, "Other"]) == {header: target, "Other": "ignore"}


def test_auto_map_several_tag_columns_all_become_tags():
    assert targets(["Email", "Tags", "Labels"]) == {
        "Email": "email",
        "Tags": "tags",
        "Labels": "tags",
    }


def test_auto_map_equal_headers_go_to_the_leftmost_column():
    assert targets(["Email", "Company", "Company (2)", "company"]) == {
        "Email": "email",
        "Company": "company",
        "Company (2)": "ignore",
        "company": "ignore",
    }


def test_normalise_ignores_case_spaces_punctuation_and_accents():
    assert normalise("  E-Mail_Adresse (Privé) ") == "emailadresseprive"


# --- auto_map by value ----------------------------------------------------------------------


def test_auto_map_finds_email_column_by_its_values():
    rows = [
        ["Ann", "Acme", "ann@acme.com"],
        ["Bob", "Beta", "bob@beta.io"],
        ["Cy", "Gamma", "not given"],
        ["Di", "Delta", ""],
        ["Ed", "Eps", "ed@eps.de"],
    ]
    assert targets(["Column 1", "Column 2", "Column 3"], rows) == {
        "Column 1": "ignore",
        "Column 2": "ignore",
        "Column 3": "email",
    }


def test_auto_map_value_share_threshold_is_sixty_percent():
    three_of_five = [["a@x.com"], ["b@x.com"], ["c@x.com"], ["n/a"], ["none"]]
    assert targets(["Contact info"], three_of_five) == {"Contact info": "email"}
    two_of_four = [["a@x.com"], ["b@x.com"], ["n/a"], ["none"]]
    assert targets(["Contact info"], two_of_four) == {"Contact info": "ignore"}


def test_auto_map_values_override_a_non_email_header_match():
    rows = [["ann@acme.com", "Acme"], ["bob@beta.io", "Beta"]]
    assert targets(["Contact", "Company"], rows) == {"Contact": "email", "Company": "company"}


def test_auto_map_header_email_match_is_not_second_guessed_by_values():
    rows = [["ann", "ann@acme.com"], ["bob", "bob@beta.io"]]
    assert targets(["Email", "Backup"], rows) == {"Email": "email", "Backup": "ignore"}


def test_auto_map_picks_the_most_email_like_column():
    rows = [["a@x.com", "a@x.com"], ["b@x.com", "-"], ["c@x.com", "c@x.com"]]
    assert targets(["A", "B"], rows) == {"A": "email", "B": "ignore"}


# --- auto_map custom fields -----------------------------------------------------------------


def test_auto_map_custom_fields_by_key_or_label():
    fields = [field("plan_tier", "Plan Tier"), field("industry", "Industry sector")]
    headers = ["Email", "plan tier", "INDUSTRY", "Industry sector"]
    assert targets(headers, custom_fields=fields) == {
        "Email": "email",
        "plan tier": "custom:plan_tier",
        "INDUSTRY": "custom:industry",
        "Industry sector": "ignore",
    }


def test_auto_map_custom_field_beats_a_synonym():
    fields = [field("mobile", "Mobile")]
    assert targets(["Email", "Phone", "Mobile"], custom_fields=fields) == {
        "Email": "email",
        "Phone": "phone",
        "Mobile": "custom:mobile",
    }


# --- clean_mapping --------------------------------------------------------------------------

HEADERS = ["Email", "Mail", "Plan", "Notes"]


def clean(mapping: dict, custom_fields=()) -> dict:
    return clean_mapping(mapping, HEADERS, custom_fields=list(custom_fields))


def refused(mapping: dict, custom_fields=()) -> str:
    with pytest.raises(MappingError) as caught:
        clean(mapping, custom_fields)
    return str(caught.value)


def test_clean_mapping_completes_and_normalises():
    fields = [field("plan", "Plan")]
    mapping = {0: "email", "2": "custom:plan", "3": "new:text:  Notes from fair  "}
    assert clean(mapping, fields) == {
        "0": "email",
        "1": "ignore",
        "2": "custom:plan",
        "3": "new:text:Notes from fair",
    }


def test_clean_mapping_allows_several_ignore_and_tags_columns():
    mapping = {"0": "email", "1": "tags", "2": "tags", "3": "ignore"}
    assert clean(mapping) == mapping


def test_clean_mapping_new_field_that_exists_with_same_type_becomes_custom():
    fields = [field("plan", "Plan", "number")]
    assert clean({"0": "email", "2": "new:number:Plan"}, fields)["2"] == "custom:plan"
    assert clean({"0": "email", "2": "new:number:PLAN"}, fields)["2"] == "custom:plan"


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({"1": "first_name"}, "Map one column to Email: every contact needs an email address."),
        ({}, "Map one column to Email: every contact needs an email address."),
        (
            {"0": "email", "1": "email"},
            'Columns "Email" and "Mail" are both mapped to Email; map each field once.',
        ),
        (
            {"0": "email", "2": "company", "3": "company"},
            'Columns "Plan" and "Notes" are both mapped to Company; map each field once.',
        ),
        ({"0": "email", "1": "nickname"}, 'Column "Mail": unknown target "nickname".'),
        ({"0": "email", "1": 7}, 'Column "Mail": unknown target "7".'),
        ({"0": "email", "4": "city"}, 'Unknown column "4".'),
        ({"0": "email", "x": "city"}, 'Unknown column "x".'),
        ({"0": "email", "-1": "city"}, 'Unknown column "-1".'),
        ({"0": "email", "2": "custom:plan"}, 'Column "Plan": there is no custom field "plan".'),
        (
            {"0": "email", "2": "new:color:Plan"},
            'Column "Plan": "color" is not a field type; use text, number, date or boolean.',
        ),
        ({"0": "email", "2": "new:text:   "}, 'Column "Plan": give the new field a name.'),
        ({"0": "email", "2": "new:text"}, 'Column "Plan": give the new field a name.'),
        (
            {"0": "email", "2": "new:text:" + "x" * 101},
            'Column "Plan": the new field\'s name is longer than 100 characters.',
        ),
        (
            {"0": "email", "2": "new:text:Plan", "3": "new:number:plan"},
            'Columns "Plan" and "Notes" are both mapped to plan; map each field once.',
        ),
    ],
)
def test_clean_mapping_refuses(mapping, message):
    assert refused(mapping) == message


def test_clean_mapping_refuses_new_field_clashing_with_another_type():
    fields = [field("plan", "Plan", "number")]
    assert refused({"0": "email", "2": "new:date:Plan"}, fields) == (
        'Column "Plan": a custom field "Plan" already exists with the type number; map the '
        "column to it or choose another name."
    )


def test_clean_mapping_refuses_new_field_and_its_existing_twin_together():
    fields = [field("plan", "Plan tier")]
    assert refused({"0": "email", "2": "custom:plan", "3": "new:text:Plan tier"}, fields) == (
        'Columns "Plan" and "Notes" are both mapped to Plan tier; map each field once.'
    )


@pytest.mark.parametrize(
    ("label", "key"),
    [
        ("Société Générale", "societe_generale"),
        ("  Plan / Tier  ", "plan_tier"),
        ("2024 budget", "f_2024_budget"),
        ("Email", "email_field"),
        ("Company", "company_field"),
        ("A" * 60, "a" * 50),
    ],
)
def test_new_field_key(label, key):
    assert new_field_key(label) == key


def test_new_field_key_without_latin_letters_is_stable_and_valid():
    key = new_field_key("日本語")
    assert key == new_field_key("日本語") != new_field_key("中文")
    assert re.fullmatch(r"field_[0-9a-f]{8}", key)


# --- presets --------------------------------------------------------------------------------


def test_headers_key_ignores_case_and_spaces_but_not_order():
    assert headers_key(["Email", "First  Name"]) == headers_key([" email ", "first name"])
    assert headers_key(["Email", "Name"]) != headers_key(["Name", "Email"])
    assert len(headers_key(["Email"])) == 64


def test_save_preset_and_reapply_by_header_name(tenant, marketer):
    headers = ["Email", "Given Name", "Plan"]
    preset = save_preset(
        name=" Fair leads ",
        headers=headers,
        user=marketer,
        mapping={"0": "email", "1": "first_name", "2": "new:text:Plan"},
    )
    stored = MappingPreset.objects.get()
    assert (stored.pk, stored.name, stored.created_by) == (preset.pk, "Fair leads", marketer)
    assert stored.headers == headers
    assert stored.mapping == {"Email": "email", "Given Name": "first_name", "Plan": "new:text:Plan"}
    assert find_preset(["email", "given name", "plan"]) == stored
    assert find_preset(["Plan", "Email", "Given Name"]) is None
    assert mapping_from_preset(stored, ["Plan", "Extra", "EMAIL", "Given Name"]) == {
        "0": "new:text:Plan",
        "1": "ignore",
        "2": "email",
        "3": "first_name",
    }


def test_save_preset_replaces_by_name_and_newest_wins(tenant):
    headers = ["Email", "Name"]
    first = save_preset(name="A", headers=headers, mapping={"0": "email"})
    second = save_preset(name="B", headers=headers, mapping={"0": "email", "1": "full_name"})
    assert find_preset(headers) == second
    again = save_preset(name="A", headers=headers, mapping={"0": "email", "1": "company"})
    assert again.pk == first.pk
    assert MappingPreset.objects.count() == 2
    assert find_preset(headers) == again
    assert again.mapping == {"Email": "email", "Name": "company"}


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("  ", "Give the preset a name."),
        ("x" * 101, "The preset name can be at most 100 characters long."),
    ],
)
def test_save_preset_refuses_bad_names(tenant, name, message):
    with pytest.raises(MappingError) as caught:
        save_preset(name=name, headers=["Email"], mapping={"0": "email"})
    assert str(caught.value) == message
    assert MappingPreset.objects.count() == 0


def test_presets_stay_in_their_tenant(tenant, other_tenant):
    save_preset(name="Mine", headers=["Email"], mapping={"0": "email"})
    with in_schema(other_tenant):
        assert find_preset(["Email"]) is None
        assert MappingPreset.objects.count() == 0
    assert find_preset(["Email"]).name == "Mine"
