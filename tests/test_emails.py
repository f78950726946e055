"""contacts.emails.normalize_email must agree with email-validator (the reference) about which
addresses are valid, whatever path (fast regex or library) it takes."""

from __future__ import annotations

import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import example, given, settings
from hypothesis import strategies as st

from contacts.emails import InvalidEmail, normalize_email

LOCAL_ALPHABET = "abcXYZ019.!#$%&'*+/=?^_`{|}~-\" éü"
LABEL_ALPHABET = "abcxyzABC019-"
TRICKY_LABELS = [
    "xn--abc",
    "xn--bcher-kva",
    "ab--cd",
    "a--b",
    "bücher",
    "例え",
    "münchen",
    "-lead",
    "trail-",
    "local",
    "test",
    "invalid",
    "localhost",
    "onion",
    "example",
    "arpa",
    "home",
    "a" * 63,
    "a" * 64,
    "123",
]
TLDS = [
    "com",
    "de",
    "org",
    "c0m",
    "x",
    "museum",
    "co.uk",
    "test",
    "local",
    "123",
    "xn--p1ai",
    "рф",
    "COM",
    "",
]


@st.composite
def address_like(draw) -> str:
    """Strings shaped like addresses, biased towards the edges of both implementations."""
    local = draw(st.text(alphabet=LOCAL_ALPHABET, max_size=20) | st.just("a" * 65))
    labels = draw(
        st.lists(
            st.text(alphabet=LABEL_ALPHABET, max_size=12) | st.sampled_from(TRICKY_LABELS),
            min_size=1,
            max_size=4,
        )
    )
    tld = draw(st.sampled_from(TLDS))
    domain = ".".join([*labels, tld] if tld else labels)
    pad = draw(st.sampled_from(["", " ", "\t", " \n"]))
    return f"{pad}{local}@{domain}{pad}"


def reference(text: str):
    """email-validator's verdict; normalize_email trims whitespace first, so the reference
    sees the trimmed text too."""
    try:
        return validate_email(text.strip(), check_deliverability=False)
    except EmailNotValidError:
        return None


@settings(max_examples=1500, deadline=None, database=None)
@given(address_like() | st.text(max_size=40))
@example("a@xn--abc.com")  # invalid Punycode label that the fast pattern accepts
@example("a@ab--cd.com")  # "two letters then two dashes" label, refused by the library
@example("JOHN@Bücher.DE")
@example("  jane.doe@example.com  ")
def test_normalize_email_agrees_with_email_validator(raw):
    expected = reference(raw)
    try:
        got = normalize_email(raw)
    except InvalidEmail:
        assert expected is None, f"refused an address email-validator accepts: {raw!r}"
        return
    assert expected is not None, f"accepted an address email-validator refuses: {raw!r}"
    assert got.normalized == f"{expected.local_part.lower()}@{expected.ascii_domain}"
    assert got.normalized.isascii() or not expected.local_part.isascii()


@pytest.mark.parametrize(
    ("raw", "display", "normalized"),
    [
        ("  jane@example.com ", "jane@example.com", "jane@example.com"),
        ("Jane.Doe@Example.COM", "Jane.Doe@example.com", "jane.doe@example.com"),
        ("JOHN@Bücher.DE", "JOHN@bücher.de", "john@xn--bcher-kva.de"),
        (
            "o'brien+news@mail.example.org",
            "o'brien+news@mail.example.org",
            "o'brien+news@mail.example.org",
        ),
        ("josé@example.com", "josé@example.com", "josé@example.com"),
    ],
)
def test_normalize_email_examples(raw, display, normalized):
    email = normalize_email(raw)
    assert (email.display, email.normalized) == (display, normalized)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "An email address is required."),
        ("   ", "An email address is required."),
        (None, "An email address is required."),
        (
            "jane doe@example.com",
            "The email address contains invalid characters before the @-sign: SPACE.",
        ),
        ('"john doe"@example.com', "Quoting the part before the @-sign is not allowed here."),
        ("jane@example", "The part after the @-sign is not valid. It should have a period."),
        (
            "jane@printer.local",
            "The part after the @-sign is a special-use or reserved name that cannot be used "
            "with email.",
        ),
        ("jane..doe@example.com", "An email address cannot have two periods in a row."),
        ("no-at-sign.example.com", "An email address must have an @-sign."),
    ],
)
def test_normalize_email_refuses_with_message(raw, message):
    with pytest.raises(InvalidEmail) as caught:
        normalize_email(raw)
    assert str(caught.value) == message
