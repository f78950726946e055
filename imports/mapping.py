"""Which column of an imported file goes into which contact field.

A mapping is {"<column index>": target}. Targets are the keys of TARGETS, "custom:<key>" for an
existing custom field, or "new:<type>:<label>" for a custom field created when the import runs.
`auto_map` guesses one from the headers (synonyms used by common exports) and the values;
presets save a mapping by header text so it re-applies to files with the same headers.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

from django.db import transaction
from django.utils import timezone

from contacts.fields import RESERVED_KEYS
from contacts.models import CustomFieldType
from imports.models import MappingPreset

TARGETS: dict[str, str] = {
    "email": "Email",
    "first_name": "First name",
    "last_name": "Last name",
    "full_name": "Full name",
    "company": "Company",
    "job_title": "Job title",
    "phone": "Phone",
    "website": "Website",
    "city": "City",
    "country": "Country",
    "tags": "Tags",
    "ignore": "Don't import",
}
# Targets several columns may share: tags from each are added together.
SHARED_TARGETS = frozenset({"ignore", "tags"})
NEW_FIELD_TYPES = tuple(CustomFieldType.values)
EMAIL_SHARE = 0.6  # share of a column's sample values that must look like addresses

# Header names used by real exports (Google Contacts, Outlook, HubSpot, Mailchimp, LinkedIn,
# Apollo, Salesforce) and in a few languages, best first: when two columns match one target the
# earlier synonym wins (Outlook's "Job Title" over its "Title", which is Mr/Ms; Apollo's
# "Company" over "Company Name for Emails"). Matching ignores case, spaces, punctuation, accents.
# fmt: off
SYNONYMS: dict[str, list[str]] = {
    "email": [
        "Email", "E-mail", "Email Address", "E-mail Address", "E-mail 1 - Value", "Email 1",
        "Primary Email", "Work Email", "Business Email", "Email (Work)", "Contact Email",
        "Personal Email", "Mail", "Courriel", "E-Mail-Adresse", "Correo electrónico",
    ],
    "first_name": [
        "First Name", "Given Name", "First", "Forename", "FName", "Prénom", "Vorname", "Nombre",
    ],
    "last_name": [
        "Last Name", "Family Name", "Surname", "Last", "LName", "Nom", "Nom de famille",
        "Nachname", "Apellido", "Apellidos",
    ],
    "full_name": [
        "Full Name", "Name", "Contact Name", "Display Name", "Contact", "Person", "Lead Name",
        "Customer Name",
    ],
    "company": [
        "Company", "Company Name", "Organization", "Organisation", "Organization Name",
        "Organization 1 - Name", "Account Name", "Account", "Employer", "Business Name",
        "Associated Company", "Company Name for Emails", "Firma", "Unternehmen", "Empresa",
        "Société", "Entreprise",
    ],
    "job_title": [
        "Job Title", "Title", "Position", "Job Position", "Job", "Role", "Organization 1 - Title",
        "Designation", "Occupation", "Funktion", "Poste", "Cargo",
    ],
    "phone": [
        "Phone", "Phone Number", "Telephone", "Tel", "Business Phone", "Work Phone",
        "Direct Phone", "Work Direct Phone", "Corporate Phone", "Phone 1 - Value", "Primary Phone",
        "Mobile Phone", "Mobile", "Mobile Number", "Cell", "Cell Phone", "Home Phone",
        "Other Phone", "Telefon", "Téléphone", "Teléfono",
    ],
    "website": [
        "Website", "Web Site", "Website URL", "Web Page", "Webpage", "Homepage", "Company Website",
        "Website 1 - Value", "Web", "Company Domain Name", "Domain",
    ],
    "city": [
        "City", "Town", "City/Town", "Locality", "Business City", "Home City", "Address 1 - City",
        "Company City", "Stadt", "Ort", "Ville", "Ciudad",
    ],
    "country": [
        "Country", "Country/Region", "Country Name", "Business Country/Region",
        "Home Country/Region", "Address 1 - Country", "Company Country", "Nation", "Land", "Pays",
        "País",
    ],
    "tags": [
        "Tags", "Tag", "Labels", "Label", "Group Membership", "Groups", "Categories",
    ],
    # Known columns that look like a field but are not one (profile links, second addresses).
    "ignore": [
        "Person Linkedin Url", "LinkedIn URL", "LinkedIn Profile", "Profile URL", "URL",
        "Company Linkedin Url", "Facebook Url", "Twitter Url", "Record ID", "Contact ID", "ID",
        "E-mail 2 - Value", "E-mail 3 - Value", "E-mail 2 Address", "E-mail 3 Address",
        "Secondary Email",
    ],
}
# fmt: on

# Looser matches for headers no synonym names exactly ("Mobile Phone Number (Work)"), ranked
# after every synonym. Email has none: an email column is recognised by its values instead.
FRAGMENTS: list[tuple[str, tuple[str, ...]]] = [
    ("phone", ("phone", "mobile")),
    ("first_name", ("firstname", "givenname")),
    ("last_name", ("lastname", "surname", "familyname")),
    ("job_title", ("jobtitle",)),
    ("website", ("website",)),
    ("city", ("city",)),
    ("country", ("country",)),
]
FRAGMENT_RANK = 1000
CUSTOM_RANK = -1  # a tenant's own field named like the header beats any synonym
EMAIL_LIKE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class MappingError(Exception):
    """The mapping cannot be used; str(exc) is the message for the user."""


def normalise(text: str) -> str:
    """Header text for matching: case, accents, spaces and punctuation ignored."""
    decomposed = unicodedata.normalize("NFKD", str(text).casefold())
    letters = "".join(char for char in decomposed if not unicodedata.combining(char))
    return re.sub(r"[\W_]+", "", letters)


def _synonym_ranks() -> dict[str, tuple[str, int]]:
    ranks: dict[str, tuple[str, int]] = {}
    for target, names in SYNONYMS.items():
        for rank, name in enumerate(names):
            ranks.setdefault(normalise(name), (target, rank))
    return ranks


SYNONYM_RANKS = _synonym_ranks()


# --- auto-mapping -------------------------------------------------------------------------


def auto_map(
    headers: list[str], sample_rows: list[list[str]], *, custom_fields: list
) -> dict[str, str]:
    """Guess a target for every column: custom fields by key or label, then header synonyms,
    then the values (a column of addresses is the email column whatever its header). Each
    target goes to one column, its best-ranked match; the rest are ignored."""
    customs = {}
    for field in custom_fields:
        for name in (field.key, field.label):
            customs.setdefault(normalise(name), f"custom:{field.key}")
    guesses = [_guess(header, customs) for header in headers]
    order = sorted(range(len(headers)), key=lambda i: (guesses[i][1], i))
    mapping, taken = {str(i): "ignore" for i in range(len(headers))}, set()
    for index in order:
        target = guesses[index][0]
        if target and (target not in taken or target in SHARED_TARGETS):
            mapping[str(index)] = target
            taken.add(target)
    if "email" not in taken:
        column = _email_column(sample_rows, mapping)
        if column is not None:
            mapping[str(column)] = "email"
    return mapping


def _guess(header: str, customs: dict[str, str]) -> tuple[str | None, float]:
    """(target, rank) for one header; lower ranks win."""
    key = normalise(header)
    if key in customs:
        return customs[key], CUSTOM_RANK
    if key in SYNONYM_RANKS:
        return SYNONYM_RANKS[key]
    for target, fragments in FRAGMENTS:
        if any(fragment in key for fragment in fragments):
            return target, FRAGMENT_RANK
    return None, float("inf")


def _email_column(sample_rows: list[list[str]], mapping: dict[str, str]) -> int | None:
    """The column whose sample values look most like email addresses (≥ EMAIL_SHARE of its
    non-empty values), among columns not mapped to a custom field."""
    best, best_share = None, EMAIL_SHARE
    for key, target in mapping.items():
        if target.startswith("custom:"):
            continue
        column = int(key)
        values = [row[column].strip() for row in sample_rows if column < len(row)]
        values = [value for value in values if value]
        if not values:
            continue
        share = sum(1 for value in values if EMAIL_LIKE.match(value)) / len(values)
        if share > best_share or (share == best_share and best is None):
            best, best_share = column, share
    return best


# --- validation ---------------------------------------------------------------------------


def clean_mapping(mapping: dict, headers: list[str], *, custom_fields: list) -> dict[str, str]:
    """The mapping checked and completed: a target for every column ("ignore" when absent),
    "new:<type>:<label>" turned into "custom:<key>" when that field exists with that type.
    Raises MappingError: unknown column or target, bad new-field type or label, one target
    on two columns (except ignore and tags), no email column."""
    fields = {field.key: field for field in custom_fields}
    mapping = {str(key): target for key, target in mapping.items()}
    unknown = [key for key in mapping if not _is_column(key, len(headers))]
    if unknown:
        raise MappingError(f'Unknown column "{unknown[0]}".')
    cleaned, used = {}, {}
    for index, header in enumerate(headers):
        target = _clean_target(mapping.get(str(index), "ignore"), header, fields)
        _check_unused(target, header, used, fields)
        cleaned[str(index)] = target
    if "email" not in used:
        raise MappingError("Map one column to Email: every contact needs an email address.")
    return cleaned


def _is_column(key, count: int) -> bool:
    return str(key).isdigit() and int(key) < count


def mapped_header(mapping: dict | None, headers: list[str] | None, target: str) -> str | None:
    """The header of the file's column mapped to `target` (None when no column is)."""
    headers = headers or []
    for key, mapped in (mapping or {}).items():
        if mapped == target and _is_column(key, len(headers)):
            return headers[int(key)]
    return None


def _clean_target(target, header: str, fields: dict) -> str:
    if isinstance(target, str) and target in TARGETS:
        return target
    if isinstance(target, str) and target.startswith("custom:"):
        key = target.removeprefix("custom:")
        if key not in fields:
            raise MappingError(f'Column "{header}": there is no custom field "{key}".')
        return target
    if isinstance(target, str) and target.startswith("new:"):
        return _clean_new_field(target, header, fields)
    raise MappingError(f'Column "{header}": unknown target "{target}".')


def _clean_new_field(target: str, header: str, fields: dict) -> str:
    _new, field_type, label = (target.split(":", 2) + ["", ""])[:3]
    label = label.strip()
    if field_type not in NEW_FIELD_TYPES:
        raise MappingError(
            f'Column "{header}": "{field_type}" is not a field type; use text, '
            "number, date or boolean."
        )
    if not label:
        raise MappingError(f'Column "{header}": give the new field a name.')
    if len(label) > 100:
        raise MappingError(
            f'Column "{header}": the new field\'s name is longer than 100 characters.'
        )
    existing = _existing_field(label, fields)
    if existing is None:
        return f"new:{field_type}:{label}"
    if existing.field_type != field_type:
        raise MappingError(
            f'Column "{header}": a custom field "{existing.label}" already '
            f"exists with the type {existing.field_type}; map the column to it "
            "or choose another name."
        )
    return f"custom:{existing.key}"  # e.g. a preset saved before its field was created


def _existing_field(label: str, fields: dict):
    key = new_field_key(label)
    if key in fields:
        return fields[key]
    return next((f for f in fields.values() if f.label.casefold() == label.casefold()), None)


def _check_unused(target: str, header: str, used: dict[str, str], fields: dict) -> None:
    """Record that `header` takes `target`; refuse a target already taken by another column."""
    if target in SHARED_TARGETS:
        return
    slot = (
        f"custom:{new_field_key(target.split(':', 2)[2])}" if target.startswith("new:") else target
    )
    if slot in used:
        raise MappingError(
            f'Columns "{used[slot]}" and "{header}" are both mapped to '
            f"{target_label(target, fields)}; map each field once."
        )
    used[slot] = header


def target_label(target: str, fields: dict) -> str:
    """A target as the user knows it: "Email", a custom field's label, a new field's name."""
    if target.startswith("custom:"):
        field = fields.get(target.removeprefix("custom:"))
        return field.label if field else target
    if target.startswith("new:"):
        return target.split(":", 2)[2]
    return TARGETS.get(target, target)


def new_field_key(label: str) -> str:
    """The key a new custom field named `label` gets: ASCII lower-case words joined by "_",
    starting with a letter, 50 characters at most, never a built-in contact field. The import
    must create new fields with this key so re-applied mappings find them."""
    ascii_text = unicodedata.normalize("NFKD", label).encode("ascii", "ignore").decode()
    key = re.sub(r"[^a-z0-9]+", "_", ascii_text.lower()).strip("_")
    if not key:  # a label with no Latin letter or digit
        key = "field_" + hashlib.sha256(label.encode()).hexdigest()[:8]
    if not key[0].isalpha():
        key = f"f_{key}"
    key = key[:50].rstrip("_")
    if key in RESERVED_KEYS:
        key = f"{key}_field"
    return key


# --- presets --------------------------------------------------------------------------------


def _header_text(header: str) -> str:
    return " ".join(str(header).split()).casefold()


def headers_key(headers: list[str]) -> str:
    """sha256 of the headers, ignoring case and runs of spaces: files with the same columns in
    the same order share it."""
    text = "\x1f".join(_header_text(header) for header in headers)
    return hashlib.sha256(text.encode()).hexdigest()


def find_preset(headers: list[str]) -> MappingPreset | None:
    """The newest preset saved for files with these headers, or None."""
    presets = MappingPreset.objects.filter(headers_key=headers_key(headers))
    return presets.order_by("-created_at", "-id").first()


def mapping_from_preset(preset: MappingPreset, headers: list[str]) -> dict[str, str]:
    """The preset's mapping applied to `headers` by header text; unknown headers are ignored.
    Custom field targets are not checked here: clean_mapping does that."""
    by_header = {_header_text(header): target for header, target in preset.mapping.items()}
    return {str(i): by_header.get(_header_text(h), "ignore") for i, h in enumerate(headers)}


@transaction.atomic
def save_preset(*, name: str, headers: list[str], mapping: dict, user=None) -> MappingPreset:
    """Save `mapping` ({column index: target}) as the preset `name`, replacing a preset of
    that name. Side effects: creates or updates one MappingPreset row (stored by header text,
    so it re-applies to files whose columns are the same). Raises MappingError for a bad name."""
    name = (name or "").strip()
    if not name:
        raise MappingError("Give the preset a name.")
    if len(name) > 100:
        raise MappingError("The preset name can be at most 100 characters long.")
    by_header = {
        headers[int(key)]: target
        for key, target in mapping.items()
        if _is_column(key, len(headers))
    }
    preset, _created = MappingPreset.objects.update_or_create(
        name=name,
        defaults={
            "headers_key": headers_key(headers),
            "headers": list(headers),
            "mapping": by_header,
            "created_by": user,
            "created_at": timezone.now(),  # a replaced preset becomes the newest for its headers
        },
    )
    return preset
