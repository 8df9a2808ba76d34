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
    assert main(["outbox"]) == 0 and main(["callbacks"]) == 0 and main(["calls"]) == 0


def test_calls_lists_each_call_with_its_analytics(tmp_path, monkeypatch, capsys):
    from appliance.records import open_database
    from appliance.records.models import Call, CallStats

    monkeypatch.setenv("APPLIANCE_PATHS_DATA_DIR", str(tmp_path))
    open_database(tmp_path / "appliance.db")
    call = Call.create(caller_id="+919876543210")
    CallStats.create(call=call, turns=4, duration_s=41, intents=["greeting", "policy_query", "policy_query"],
                     actions=["send_email"], voice_to_voice_p50_ms=930)
    Call.create(caller_id=None)
    assert main(["calls"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert "withheld" in printed[0] and "in progress" in printed[0]
    assert "+919876543210" in printed[1] and "4 turns, 41 s, v2v p50 930 ms" in printed[1]
    assert "intents greeting,policy_query, actions send_email" in printed[1]


def test_a_broken_fixtures_file_is_a_clear_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("APPLIANCE_PATHS_DATA_DIR", str(tmp_path))
    broken = tmp_path / "fixtures.json"
    broken.write_text("{not json")
    assert main(["records", "load", str(broken)]) == 2
    assert "records-fixtures-invalid" in capsys.readouterr().err
