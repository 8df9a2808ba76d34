"""The technician's commands for records and the outbox, run as the `appliance` command would run them."""

from __future__ import annotations

from appliance.cli import main
from appliance.settings import ROOT

FIXTURES = ROOT.parent / "shared" / "scenarios" / "seed" / "fixtures.json"


def test_load_import_and_list(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("APPLIANCE_PATHS_DATA_DIR", str(tmp_path))
    assert main(["records", "load", str(FIXTURES)]) == 0
    assert "2 leads, 1 orders, 2 agents" in capsys.readouterr().out
    orders = tmp_path / "orders.csv"
    orders.write_text("order_id,status,phone\nORD1,Shipped,+919876543210\n")
    assert main(["records", "import-orders", str(orders)]) == 0
    assert "imported 1 order(s)" in capsys.readouterr().out
    orders.write_text("status\nShipped\n")
    assert main(["records", "import-orders", str(orders)]) == 2
    assert "records-csv-invalid" in capsys.readouterr().err
    assert main(["outbox"]) == 0 and main(["callbacks"]) == 0


def test_a_broken_fixtures_file_is_a_clear_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("APPLIANCE_PATHS_DATA_DIR", str(tmp_path))
    broken = tmp_path / "fixtures.json"
    broken.write_text("{not json")
    assert main(["records", "load", str(broken)]) == 2
    assert "records-fixtures-invalid" in capsys.readouterr().err
