import subprocess
import sys

from appliance.cli import main
from appliance.settings import ROOT


def test_settings_prints_every_key_with_its_doc(capsys):
    assert main(["settings"]) == 0
    out = capsys.readouterr().out
    assert "[llm]" in out and "backend = llama" in out and "# Silence after speech that ends the caller's turn" in out


def test_bad_setting_is_one_clear_line_and_exit_2(monkeypatch, capsys):
    monkeypatch.setenv("APPLIANCE_VAD_THRESHOLD", "loud")
    assert main(["models", "list"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "APPLIANCE_VAD_THRESHOLD" in err and "float" in err


def test_models_list_shows_every_role(capsys):
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    for role in ("llm", "stt", "tts", "embed", "vad", "llm-tiny", "vosk-ko"):
        assert f"\n{role} " in "\n" + out


def test_packages_are_pinned(capsys):
    assert main(["models", "packages"]) == 0
    pins = capsys.readouterr().out.split()
    assert pins and all("==" in pin for pin in pins)


def test_console_script_is_installed():
    result = subprocess.run([str(ROOT / ".venv" / "bin" / "appliance"), "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "models" in result.stdout


def test_module_entry_point_reports_unknown_role():
    result = subprocess.run([sys.executable, "-m", "appliance", "models", "verify", "no-such-role"],
                            capture_output=True, text=True)
    assert result.returncode == 2 and "models-role-unknown" in result.stderr


def test_knowledge_ingest_reports_a_malformed_document_and_search_shows_scores(tmp_path, monkeypatch, capsys):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "refunds.md").write_text("# Refunds\n\nWe offer a 30-day money-back guarantee.\n")
    (docs / "broken.md").write_bytes(b"\xff\xfe\x00 not text")
    monkeypatch.setenv("APPLIANCE_PATHS_DATA_DIR", str(tmp_path / "data"))
    assert main(["knowledge", "ingest", str(docs)]) == 1
    out = capsys.readouterr().out
    assert "1 added" in out and "1 failed" in out and "broken.md" in out
    assert main(["knowledge", "ingest", str(docs)]) == 1
    assert "1 unchanged" in capsys.readouterr().out
    assert main(["knowledge", "search", "What is your refund policy?"]) == 0
    assert "refunds.md > Refunds" in capsys.readouterr().out


def test_settings_shows_the_panels_changes_with_the_file_they_come_from(tmp_path, capsys):
    ini = tmp_path / "appliance.ini"
    ini.write_text(f"[paths]\ndata_dir = {tmp_path}\n")
    (tmp_path / "panel-settings.ini").write_text("[smtp]\nport = 587\n")
    assert main(["--config", str(ini), "settings"]) == 0
    out = capsys.readouterr().out
    assert f"admin panel's changes over it: {tmp_path / 'panel-settings.ini'}" in out and "port = 587" in out
