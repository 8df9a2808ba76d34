"""The records database: WAL on disk, migrations that keep rows, fixtures and the orders CSV import."""

from __future__ import annotations

import peewee
import pytest
from playhouse.migrations import Runner

from appliance.errors import ApplianceError
from appliance.records import MIGRATIONS, open_database
from appliance.records.load import RecordsCrm, import_orders, load_fixtures
from appliance.records.models import Order, Outbox


def test_a_database_from_the_first_schema_is_upgraded_and_keeps_its_rows(tmp_path):
    path = tmp_path / "old.db"
    old = peewee.SqliteDatabase(str(path))
    Runner(old, directory=str(MIGRATIONS)).up(target="0001_initial")
    old.execute_sql("insert into outbox (key, channel, recipient, subject, body, html, attachments, state, attempts,"
                    " last_error, next_attempt_at, created_at, reference) values ('k', 'sms', '+15551234567', '',"
                    " 'hello', '', '[]', 'queued', 0, '', '2025-01-01T00:00:00+00:00', '2025-01-01T00:00:00+00:00', '')")
    old.close()
    db = open_database(path)
    try:
        row = Outbox.get(Outbox.key == "k")
        assert (row.body, row.delivery, row.delivered_at) == ("hello", "", None)
        assert db.execute_sql("pragma journal_mode").fetchone()[0] == "wal"
        assert open_database(path) is not None  # a second open has nothing left to apply
    finally:
        db.close()


def test_fixtures_feed_the_crm_the_dialogue_reads(records):
    load_fixtures({"leads": [{"phone": "+919876543210", "name": "Jane Doe", "email": "user@example.com"}],
                   "orders": [{"order_id": "ORD98765", "status": "Out for Delivery", "tracking_id": "TRK1"}],
                   "agents": [{"name": "John", "expertise": ["technical"], "status": "available"},
                              {"name": "Priya", "expertise": ["sales"], "status": "available"}],
                   "staff": {"sales": {"email": "sales@techcorp.example", "phone": "+919800000001"}}})
    crm = RecordsCrm()
    assert crm.lead("+919876543210")["email"] == "user@example.com"
    assert crm.lead("+10000000000") is None
    assert crm.order("ord98765")["tracking_id"] == "TRK1"
    assert crm.agent_for("sales")["name"] == "Priya" and crm.agent_for("technical")["name"] == "John"


def test_orders_import_from_csv_and_update_in_place(records, tmp_path):
    csv_file = tmp_path / "orders.csv"
    csv_file.write_text("order_id,phone,product,status,estimated_delivery,tracking_id\n"
                        "ord1,+919876543210,laptop,Shipped,tomorrow 12:00,TRK9\n"
                        "ORD2,+919812345678,phone,Delivered,,\n")
    assert import_orders(csv_file) == 2
    csv_file.write_text("order_id,status\nORD1,Delivered\n")
    assert import_orders(csv_file) == 1
    assert Order.select().count() == 2
    assert Order.get(Order.order_id == "ORD1").status == "Delivered"


@pytest.mark.parametrize("text, problem", [
    ("id,status\n1,Shipped\n", "header lacks order_id"),
    ("order_id,status\nORD5,Shipped\n,Delivered\n", ":3: order_id is empty"),
])
def test_a_bad_orders_file_is_refused_whole(records, tmp_path, text, problem):
    csv_file = tmp_path / "bad.csv"
    csv_file.write_text(text)
    with pytest.raises(ApplianceError, match=problem):
        import_orders(csv_file)
    assert Order.select().count() == 0


def test_a_null_fixture_field_is_unknown_not_an_error(records):
    from appliance.records.load import load_fixtures
    from appliance.records.models import Order

    load_fixtures({"orders": [{"order_id": "BW-1", "status": "Scheduled", "tracking_id": None}]})
    assert Order.get(Order.order_id == "BW-1").tracking_id == ""
