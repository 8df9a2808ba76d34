from pathlib import Path

import pytest

from appliance import settings
from appliance.errors import ApplianceError


def test_defaults_work_without_a_file(monkeypatch):
    monkeypatch.delenv("APPLIANCE_CONFIG", raising=False)
    loaded = settings.load(environ={})
    assert loaded.company.name == "TechCorp"
    assert loaded.llm.backend == "llama"
    assert loaded.paths.models_dir == settings.ROOT / "models"


def test_file_then_environment_override(tmp_path):
    ini = tmp_path / "appliance.ini"
    ini.write_text("[company]\nname = Acme\n[vad]\nend_silence_ms = 500\n[llm]\nbackend = http\n")
    loaded = settings.load(ini, environ={"APPLIANCE_VAD_END_SILENCE_MS": "650", "APPLIANCE_PATHS_DATA_DIR": "~/x"})
    assert loaded.company.name == "Acme"
    assert loaded.vad.end_silence_ms == 650
    assert loaded.llm.backend == "http"
    assert loaded.paths.data_dir == Path("~/x").expanduser()


def test_config_path_from_environment(tmp_path, monkeypatch):
    ini = tmp_path / "site.ini"
    ini.write_text("[tts]\nlength_scale = 1.2\n")
    monkeypatch.setenv("APPLIANCE_CONFIG", str(ini))
    assert settings.load(environ={}).tts.length_scale == 1.2


@pytest.mark.parametrize("variable, value, words", [
    ("APPLIANCE_VAD_END_SILENCE_MS", "soon", ["[vad] end_silence_ms", "int"]),
    ("APPLIANCE_VAD_THRESHOLD", "1.5", ["[vad] threshold", "between 0.0 and 1.0"]),
    ("APPLIANCE_LLM_BACKEND", "cloud", ["[llm] backend", "llama, http"]),
    ("APPLIANCE_STT_THREADS", "-1", ["[stt] threads", "negative"]),
    ("APPLIANCE_RECORDING_MODE", "always", ["[recording] mode", "off, on, notice"]),
    ("APPLIANCE_ACTIONS_CALLBACK_VOICEMAIL", "again", ["[actions] callback_voicemail", "done, retry"]),
    ("APPLIANCE_VAD_STILL_THERE_AFTER_MS", "-1", ["[vad] still_there_after_ms", "negative"]),
])
def test_bad_value_names_key_and_what_is_allowed(variable, value, words):
    with pytest.raises(ApplianceError) as error:
        settings.load(environ={variable: value})
    assert error.value.code == "settings-invalid"
    for word in words + [variable]:
        assert word in str(error.value)


def test_unknown_key_and_section_are_errors(tmp_path):
    ini = tmp_path / "a.ini"
    ini.write_text("[vad]\nsilence = 3\n")
    with pytest.raises(ApplianceError, match="end_silence_ms"):
        settings.load(ini, environ={})
    ini.write_text("[smpt]\nport = 25\n")
    with pytest.raises(ApplianceError, match="settings-unknown-section"):
        settings.load(ini, environ={})


def test_missing_file_is_an_error(tmp_path):
    with pytest.raises(ApplianceError, match="settings-file-missing"):
        settings.load(tmp_path / "nope.ini", environ={})


def test_every_field_has_a_docstring():
    rows = settings.describe()
    assert len(rows) > 20
    assert [row for row in rows if not row[3]] == []


def test_the_company_comes_from_the_knowledge_folder_unless_set(tmp_path):
    (tmp_path / "company.json").write_text('{"name": "Greenleaf", "timezone": "Europe/London", '
                                           '"default_country_code": "+44", "currency_words": "pounds"}')
    folder = {"APPLIANCE_PATHS_KNOWLEDGE_DIR": str(tmp_path)}
    loaded = settings.load(environ=folder)
    assert (loaded.company.name, loaded.company.timezone, loaded.company.country_code) == (
        "Greenleaf", "Europe/London", "+44")
    assert settings.load(environ={**folder, "APPLIANCE_COMPANY_NAME": "Acme"}).company.name == "Acme"
    empty = tmp_path / "none"
    empty.mkdir()
    assert settings.load(environ={"APPLIANCE_PATHS_KNOWLEDGE_DIR": str(empty)}).company.name == "our company"


def test_a_broken_company_file_is_a_clear_error(tmp_path):
    (tmp_path / "company.json").write_text("{name: oops")
    with pytest.raises(ApplianceError) as error:
        settings.load(environ={"APPLIANCE_PATHS_KNOWLEDGE_DIR": str(tmp_path)})
    assert error.value.code == "settings-company-invalid" and "company.json" in str(error.value)


@pytest.mark.parametrize("variable, value, words", [
    ("APPLIANCE_COMPANY_TIMEZONE", "Mars/Olympus", ["IANA time zone"]),
    ("APPLIANCE_COMPANY_COUNTRY_CODE", "44", ["+ and 1 to 4 digits"]),
    ("APPLIANCE_SMTP_PORT", "70000", ["1 to 65535"]),
    ("APPLIANCE_SMTP_SENDER", "support at example", ["email address"]),
    ("APPLIANCE_LINE_LISTEN", "tcp://0.0.0.0:5060", ["sip://HOST:PORT"]),
    ("APPLIANCE_LINE_LISTEN", "sip://0.0.0.0:50x0", ["1 to 65535"]),
    ("APPLIANCE_LINE_SIP_ALLOW", "127.0.0.1, the office", ["'the office'", "CIDR"]),
    ("APPLIANCE_LINE_RTP_PORTS", "11000-10000", ["FIRST-LAST"]),
    ("APPLIANCE_LINE_REGISTRAR", "pbx.local:sip", ["1 to 65535"]),
])
def test_values_with_a_shape_are_checked_when_loaded(variable, value, words):
    with pytest.raises(ApplianceError) as error:
        settings.load(environ={variable: value}, panel_file=False)
    assert error.value.code == "settings-invalid"
    for word in words + [variable]:
        assert word in str(error.value), str(error.value)


def test_good_shapes_load():
    loaded = settings.load(environ={"APPLIANCE_COMPANY_TIMEZONE": "Asia/Kolkata", "APPLIANCE_COMPANY_COUNTRY_CODE": "+91",
                                    "APPLIANCE_LINE_LISTEN": "sip://0.0.0.0:5060, audiosocket://[::1]:9092",
                                    "APPLIANCE_LINE_SIP_ALLOW": "10.0.0.0/8, ::1", "APPLIANCE_LINE_REGISTRAR": "pbx"},
                           panel_file=False)
    assert loaded.company.timezone == "Asia/Kolkata" and loaded.line.registrar == "pbx"


def test_the_panels_changes_come_over_the_file_and_under_the_environment(tmp_path):
    ini = tmp_path / "appliance.ini"
    ini.write_text(f"[paths]\ndata_dir = {tmp_path}\n[smtp]\nhost = mail.office\nport = 25\n[company]\nname = Acme\n")
    (tmp_path / settings.PANEL_FILE).write_text("[smtp]\nport = 587\n[company]\ngreeting = Hi from {company}\n")
    loaded = settings.load(ini, environ={})
    assert (loaded.smtp.host, loaded.smtp.port, loaded.company.greeting) == ("mail.office", 587, "Hi from {company}")
    assert settings.load(ini, environ={"APPLIANCE_SMTP_PORT": "2525"}).smtp.port == 2525
    assert settings.load(ini, environ={}, panel_file=False).smtp.port == 25


def test_the_panels_file_may_not_move_folders_or_models(tmp_path):
    ini = tmp_path / "appliance.ini"
    ini.write_text(f"[paths]\ndata_dir = {tmp_path}\n")
    (tmp_path / settings.PANEL_FILE).write_text("[paths]\nmodels_dir = /tmp/elsewhere\n")
    with pytest.raises(ApplianceError) as error:
        settings.load(ini, environ={})
    assert error.value.code == "settings-not-from-panel" and "[paths] models_dir" in str(error.value)
    (tmp_path / settings.PANEL_FILE).write_text("[smtp]\nport = twenty-five\n")
    with pytest.raises(ApplianceError, match=r"\[smtp\] port .*panel-settings.ini.*must be a whole number"):
        settings.load(ini, environ={})


def test_a_quiet_caller_and_a_voicemail_reached_have_settings_that_work_unset(monkeypatch):
    monkeypatch.delenv("APPLIANCE_CONFIG", raising=False)
    loaded = settings.load(environ={})
    assert (loaded.vad.still_there_after_ms, loaded.vad.quiet_goodbye_after_ms) == (8000, 6000)
    assert loaded.actions.callback_voicemail == "done" and loaded.company.phone == ""
    changed = settings.load(environ={"APPLIANCE_VAD_STILL_THERE_AFTER_MS": "5000",
                                     "APPLIANCE_ACTIONS_CALLBACK_VOICEMAIL": "retry"})
    assert changed.vad.still_there_after_ms == 5000 and changed.actions.callback_voicemail == "retry"


def test_the_company_phone_comes_from_the_knowledge_folder_unless_set(tmp_path):
    (tmp_path / "company.json").write_text('{"name": "Greenleaf", "phone": "+44 20 7946 0000"}')
    folder = {"APPLIANCE_PATHS_KNOWLEDGE_DIR": str(tmp_path)}
    assert settings.load(environ=folder).company.phone == "+44 20 7946 0000"
    assert settings.load(environ={**folder, "APPLIANCE_COMPANY_PHONE": "+44 1632 960000"}).company.phone == \
        "+44 1632 960000"
