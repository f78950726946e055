"""segment_count and refresh_segments: output, a bad rule (exit code 2, message on stderr),
unknown tenants, and tenant isolation."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command

from segments.dynamic import services
from segments.models import SegmentRefresh
from tests.conftest import in_schema
from tests.factories import ContactFactory

ACME = {"op": "and", "rules": [{"field": "company", "operator": "equals", "value": "Acme"}]}


@pytest.fixture
def files(tmp_path):
    def write(name: str, tree) -> str:
        path = tmp_path / name
        path.write_text(json.dumps(tree), encoding="utf-8")
        return str(path)
    return write


def run(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_segment_count_prints_the_count(tenant, files):
    for n in range(3):
        ContactFactory(email=f"a{n}@acme.com", company="acme")
    ContactFactory(company="Initech")
    exclude = {"op": "and", "rules": [{"field": "email", "operator": "equals",
                                       "value": "a0@acme.com"}]}
    out, _ = run("segment_count", "--tenant", tenant.schema_name, "--rules",
                 files("r.json", ACME))
    assert out == "3\n"
    out, _ = run("segment_count", "--tenant", tenant.schema_name, "--rules",
                 files("r.json", ACME), "--exclude", files("x.json", exclude))
    assert out == "2\n"


def test_segment_count_bad_rule_exits_2_with_the_message(tenant, files):
    bad = {"op": "and", "rules": [ACME["rules"][0], {"field": "custom.nope",
                                                     "operator": "equals", "value": 1}]}
    with pytest.raises(SystemExit) as exc:
        run("segment_count", "--tenant", tenant.schema_name, "--rules", files("b.json", bad))
    assert exc.value.code == 2
    err = io.StringIO()
    with pytest.raises(SystemExit):
        call_command("segment_count", "--tenant", tenant.schema_name, "--rules",
                     files("b.json", bad), stdout=io.StringIO(), stderr=err)
    assert err.getvalue() == "rules[1]: Unknown field 'custom.nope'.\n"


def test_commands_refuse_unknown_and_public_tenants(tenant, files):
    for schema in ("public", "nope"):
        with pytest.raises(CommandError, match=f"No tenant with schema '{schema}'."):
            run("segment_count", "--tenant", schema, "--rules", files("r.json", ACME))
        with pytest.raises(CommandError, match=f"No tenant with schema '{schema}'."):
            run("refresh_segments", "--tenant", schema)
    with pytest.raises(CommandError, match="is not JSON"):
        run("segment_count", "--tenant", tenant.schema_name, "--rules", _not_json(files))


def _not_json(files) -> str:
    path = files("n.json", {})
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("{not json")
    return path


def test_refresh_segments_prints_entered_left_size(tenant, other_tenant):
    for n in range(2):
        ContactFactory(email=f"a{n}@acme.com", company="Acme")
    acme = services.create_segment(name="Acme", rules=ACME)
    inner = services.create_segment(name="In Acme", rules={"op": "and", "rules": [
        {"field": "segment", "operator": "in", "value": [acme.pk]}]})
    out, _ = run("refresh_segments", "--tenant", tenant.schema_name)
    lines = [line.split(" (")[0] for line in out.splitlines()]
    assert lines == [f"#{acme.pk} Acme: entered 2, left 0, size 2",
                     f"#{inner.pk} In Acme: entered 2, left 0, size 2"]
    out, _ = run("refresh_segments", "--tenant", tenant.schema_name, "--segment", str(acme.pk))
    assert out.split(" (")[0] == f"#{acme.pk} Acme: entered 0, left 0, size 2"
    with pytest.raises(CommandError, match=f"No segment #{acme.pk} in tenant 'beta'."):
        run("refresh_segments", "--tenant", other_tenant.schema_name, "--segment",
            str(acme.pk))
    with in_schema(other_tenant):
        assert not SegmentRefresh.objects.exists()
    assert SegmentRefresh.objects.count() == 3
