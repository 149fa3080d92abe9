"""``organizations``, ``api-keys``, ``tax-rates``, ``documents import`` and ``db``."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from tests.cli.support import Cli, add, connection, organization, run_booksync


def test_organizations_create_is_idempotent_and_renames(cli: Cli) -> None:
    from models import Organization, session_scope

    org_id = uuid.uuid4()
    first = cli("organizations", "create", "--id", str(org_id), "--name", "Acme")
    assert (first.status, first.stdout.strip()) == (0, f"organization {org_id} (Acme) created")
    again = cli("organizations", "create", "--id", str(org_id), "--name", "Acme", "--json")
    assert json.loads(again.stdout)["outcome"] == "unchanged"
    renamed = cli("organizations", "create", "--id", str(org_id), "--name", "Acme Ltd")
    assert renamed.stdout.strip() == f"organization {org_id} (Acme Ltd) updated"
    with session_scope() as session:
        assert session.get(Organization, org_id).name == "Acme Ltd"
    listed = cli("organizations", "list")
    assert listed.stdout.splitlines()[1].split()[:3] == [str(org_id), "Acme", "Ltd"]


def test_api_keys_are_shown_once_listed_without_secret_and_revoked(cli: Cli) -> None:
    from api.keys import find_active_key
    from models import session_scope

    org = organization()
    created = cli("api-keys", "create", "--organization", str(org.id), "--name", "billing app")
    assert created.status == 0, created.stderr
    key = created.stdout.strip()
    assert key.startswith("bks_") and len(created.stdout.splitlines()) == 1
    assert "not shown again" in created.stderr
    with session_scope() as session:
        row = find_active_key(session, key)
        assert row is not None and row.organization_id == org.id
        key_id = row.id

    platform = json.loads(cli("api-keys", "create", "--platform", "--json").stdout)
    assert platform["scope"] == "platform" and platform["key"].startswith("bks_")

    listed = cli("api-keys", "list")
    assert listed.status == 0
    assert key not in listed.stdout and platform["key"] not in listed.stdout
    assert {line.split()[0] for line in listed.stdout.splitlines()[1:]} == {str(key_id), platform["id"]}
    only_org = json.loads(cli("api-keys", "list", "--organization", str(org.id), "--json").stdout)
    assert [k["id"] for k in only_org] == [str(key_id)]
    assert "key" not in only_org[0]

    revoked = cli("api-keys", "revoke", str(key_id))
    assert revoked.status == 0, revoked.stderr
    assert revoked.stdout.startswith(f"API key {key_id} ({key[:12]}) revoked at ")
    with session_scope() as session:
        assert find_active_key(session, key) is None
    assert cli("api-keys", "revoke", key[:12]).status == 0
    assert [k["id"] for k in json.loads(cli("api-keys", "list", "--json").stdout)] == [platform["id"]]
    assert len(json.loads(cli("api-keys", "list", "--all", "--json").stdout)) == 2


def test_api_keys_for_unknown_things_fail_with_one_line(cli: Cli) -> None:
    missing = uuid.uuid4()
    result = cli("api-keys", "create", "--organization", str(missing))
    assert (result.status, result.stdout, result.error_lines) == (
        1, "", [f"booksync: organization {missing} does not exist"]
    )
    result = cli("api-keys", "revoke", str(missing))
    assert (result.status, result.error_lines) == (1, [f"booksync: no API key with id or prefix {missing}"])


def test_tax_rates_list_shows_percentages_and_filters(cli: Cli) -> None:
    from models import AccountingTaxRate

    acme, globex = organization("Acme"), organization("Globex")
    conn = connection(acme)
    vat = AccountingTaxRate(organization_id=acme.id, connection_id=conn.id, books_id=conn.books, is_external=True, platform_id="7",
                            name="VAT 20%", code="V20", effective_tax_rate=2000)
    reduced = AccountingTaxRate(organization_id=acme.id, is_external=False, name="Reduced", effective_tax_rate=550)
    theirs = AccountingTaxRate(organization_id=globex.id, is_external=False, name="GST", effective_tax_rate=1000)
    add(vat, reduced, theirs)

    result = cli("tax-rates", "list", "--organization", str(acme.id))
    assert result.status == 0, result.stderr
    header, *lines = result.stdout.splitlines()
    assert header.split() == ["ID", "ORGANIZATION", "NAME", "CODE", "RATE", "SOURCE", "PLATFORM", "ID", "STATUS"]
    assert [line.split()[0] for line in lines] == [str(reduced.id), str(vat.id)]
    assert "5.50%" in lines[0] and "internal" in lines[0]
    assert "20.00%" in lines[1] and "external" in lines[1] and " V20 " in lines[1]

    external = json.loads(cli("tax-rates", "list", "--external", "--json").stdout)
    assert [(r["name"], r["effective_tax_rate"], r["is_external"]) for r in external] == [("VAT 20%", 2000, True)]
    internal = json.loads(cli("tax-rates", "list", "--internal", "--json").stdout)
    assert {r["name"] for r in internal} == {"Reduced", "GST"}


def test_documents_import_loads_good_lines_and_reports_refused_ones(cli: Cli, tmp_path: Path) -> None:
    from models import Counterpart, Payable, session_scope

    org = organization()
    counterpart_id, bill_id = uuid.uuid4(), uuid.uuid4()
    bill = {
        "type": "payable", "organization_id": str(org.id), "id": str(bill_id), "counterpart_id": str(counterpart_id),
        "currency": "EUR", "status": "waiting_to_be_paid", "subtotal": 10000, "tax_amount": 2000,
        "total_amount": 12000,
        "line_items": [{"description": "Paper", "quantity": 2, "unit_price": 5000, "tax_rate_value": 2000}],
    }
    lines = [
        json.dumps({"type": "counterpart", "organization_id": str(org.id), "id": str(counterpart_id),
                    "name": "Paper Co", "is_vendor": True}),
        json.dumps(bill),
        "",
        json.dumps({**bill, "id": str(uuid.uuid4()), "currency": "XXQ"}),
        "{not json",
        json.dumps({**bill, "type": "invoice"}),
    ]
    path = tmp_path / "documents.jsonl"
    path.write_text("\n".join(lines) + "\n")

    result = cli("documents", "import", str(path))
    assert result.status == 1
    assert result.stdout.strip() == "2 created, 0 updated, 0 unchanged, 3 refused"
    refused = result.stderr.splitlines()
    assert refused[0].split() == ["LINE", "FIELD", "WHY"]
    assert [line.split()[:2] for line in refused[1:]] == [["4", "currency"], ["5", "line"], ["6", "type"]]
    with session_scope() as session:
        assert session.get(Counterpart, counterpart_id).name == "Paper Co"
        assert session.get(Payable, bill_id).total_amount == 12000

    again = cli("documents", "import", "-", "--json", input="\n".join(lines[:2]))
    assert again.status == 0, again.stderr
    assert json.loads(again.stdout) == {"created": 0, "updated": 0, "unchanged": 2, "refused": []}


def test_db_upgrade_and_current_on_a_new_database(tmp_path: Path) -> None:
    env = {"BOOKSYNC_DATABASE_URL": f"sqlite:///{tmp_path}/new.db", "BOOKSYNC_HOME": str(tmp_path)}
    assert run_booksync(["db", "current"], env).stdout.strip() == "empty (run: booksync db upgrade)"
    check = run_booksync(["db", "check"], env)
    assert check.status == 1
    assert check.error_lines[0].startswith("booksync: the database is at revision none (empty); this booksync needs ")
    upgraded = run_booksync(["db", "upgrade"], env)
    assert upgraded.status == 0, upgraded.stderr
    assert upgraded.stdout.strip().startswith(f"database sqlite:///{tmp_path}/new.db is at revision ")
    revision = upgraded.stdout.split()[-1]
    assert run_booksync(["db", "current"], env).stdout.strip() == revision
    assert run_booksync(["db", "check"], env).stdout.strip() == f"the database is at revision {revision}"
    assert run_booksync(["db", "upgrade"], env).status == 0


def test_db_upgrade_on_postgresql_hides_the_password(cli: Cli, pg_url: str) -> None:
    result = cli("db", "upgrade")
    assert result.status == 0, result.stderr
    assert "is at revision" in result.stdout
