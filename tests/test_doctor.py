import shutil

from appliance import settings as settings_module
from appliance.doctor import run_checks


def test_doctor_passes_on_this_box():
    lines = []
    assert run_checks(settings_module.load(environ={}), out=lines.append) == 0, "\n".join(lines)
    text = "\n".join(lines)
    for name in ("python", "lib llama_cpp", "lib onnxruntime", "sqlite-vec", "model llm", "model stt", "disk", "memory"):
        assert name in text
    assert lines[-1].endswith("0 failed")


def test_doctor_names_a_corrupt_model_and_the_fix(tmp_path):
    models_dir = tmp_path / "models"
    real = settings_module.ROOT / "models"
    shutil.copytree(real / "silero-vad", models_dir / "silero-vad")
    shutil.copy(real / "manifest.json", models_dir / "manifest.json")
    onnx = models_dir / "silero-vad" / "silero_vad.onnx"
    onnx.write_bytes(onnx.read_bytes()[:-1] + b"\x00")
    settings = settings_module.load(environ={"APPLIANCE_PATHS_MODELS_DIR": str(models_dir),
                                             "APPLIANCE_PATHS_DATA_DIR": str(tmp_path / "data")})
    lines = []
    assert run_checks(settings, out=lines.append) == 1
    vad = next(line for line in lines if "model vad" in line)
    assert vad.startswith("FAIL") and str(onnx) in vad and "corrupt" in vad and "appliance models install" in vad
    llm = next(line for line in lines if "model llm " in line)
    assert "missing" in llm


def test_doctor_sees_the_relay_the_modem_and_the_outbox(tmp_path):
    from appliance.actions.relay import LoopbackRelay
    from appliance.modem.simulator import SimulatorThread

    modem = SimulatorThread(signal=18)
    try:
        with LoopbackRelay() as relay:
            settings = settings_module.load(environ={"APPLIANCE_PATHS_DATA_DIR": str(tmp_path),
                                                     "APPLIANCE_SMTP_PORT": str(relay.port),
                                                     "APPLIANCE_MODEM_DEVICE": modem.path})
            lines = []
            run_checks(settings, out=lines.append)
        assert any(line.startswith("OK") and "smtp relay" in line and "answers 250" in line for line in lines)
        assert any(line.startswith("OK") and "SIM ready, network home, signal -77 dBm" in line for line in lines)
        assert any(line.startswith("OK") and "0 waiting, 0 failed" in line for line in lines)
        modem.do("set_registration", 2)
        lines = []
        run_checks(settings, out=lines.append)
        assert any(line.startswith("WARN") and "smtp relay" in line and "emails wait" in line for line in lines)
        assert any(line.startswith("WARN") and "network searching" in line for line in lines)
    finally:
        modem.close()
