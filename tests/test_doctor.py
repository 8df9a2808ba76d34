import shutil

from appliance import settings as settings_module
from appliance.doctor import run_checks


def test_doctor_passes_on_this_box():
    lines = []
    assert run_checks(settings_module.load(environ={}), out=lines.append) == 0, "\n".join(lines)
    text = "\n".join(lines)
    for name in ("python", "lib llama_cpp", "lib onnxruntime", "sqlite-vec", "model llm", "model stt", "llm speed",
                 "disk", "memory"):
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
    speed = next(line for line in lines if "llm speed" in line)
    assert speed.startswith("FAIL") and "cannot load" in speed


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
            run_checks(settings, out=lines.append, speed=False)
        assert any(line.startswith("OK") and "smtp relay" in line and "answers 250" in line for line in lines)
        assert any(line.startswith("OK") and "SIM ready, network home, signal -77 dBm" in line for line in lines)
        assert any(line.startswith("OK") and "0 waiting, 0 failed" in line for line in lines)
        modem.do("set_registration", 2)
        lines = []
        run_checks(settings, out=lines.append, speed=False)
        assert any(line.startswith("WARN") and "smtp relay" in line and "emails wait" in line for line in lines)
        assert any(line.startswith("WARN") and "network searching" in line for line in lines)
    finally:
        modem.close()


def test_llm_speed_state_comes_from_the_numbers():
    from appliance.doctor import MAX_FIRST_SENTENCE_S, first_sentence_s, speed_check, speed_state

    assert first_sentence_s(120.0, 40.0) == 60 / 120 + 20 / 40 == 1.0
    assert speed_state(1.0) == "ok" and speed_state(MAX_FIRST_SENTENCE_S) == "ok"
    assert speed_state(1.51) == "warn" and speed_state(9.0) == "warn"
    fast = speed_check(120.0, 40.0, "llm: Qwen", "AMD EPYC, AVX2, no AVX-512")
    assert fast.state == "ok" and "prompt 120 tok/s, generation 40 tok/s: first sentence in ~1.0 s" in fast.line()
    assert "->" not in fast.line() and "AVX2" in fast.line()
    slow = speed_check(60.0, 10.0, "llm: Mistral 7B", "Intel Atom, no AVX2, no AVX-512")
    assert slow.state == "warn" and "~3.0 s" in slow.line() and "faster CPU" in slow.line()


def test_cpu_summary_names_the_model_and_its_vector_units():
    from appliance.doctor import cpu_summary

    avx512 = "processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Gold 6338\nflags\t\t: fpu sse2 avx avx2 avx512f avx512bw\n"
    assert cpu_summary(avx512) == "Intel(R) Xeon(R) Gold 6338, AVX2, AVX-512"
    older = "model name\t: Intel(R) Celeron(R) N3350\nflags\t\t: fpu sse2 sse4_2\n"
    assert cpu_summary(older) == "Intel(R) Celeron(R) N3350, no AVX2, no AVX-512"
    assert cpu_summary("") == "unknown CPU, no AVX2, no AVX-512"


def test_llm_speed_measures_the_tiny_model(store):
    from appliance.doctor import check_llm_speed, measure_llm_speed

    settings = settings_module.load(environ={"APPLIANCE_LLM_MODEL": "llm-tiny"})
    prompt_tps, generation_tps = measure_llm_speed(settings, store)
    assert prompt_tps > 0 and generation_tps > 0  # numbers, whatever this machine's speed
    check = check_llm_speed(settings, store)
    assert check.name == "llm speed" and check.state in ("ok", "warn")  # which one depends on the machine
    assert "tok/s" in check.detail and "SmolLM2-135M" in check.detail and "AVX2" in check.detail


def test_llm_speed_fails_only_when_the_model_cannot_load(tmp_path, store):
    from appliance.doctor import check_llm_speed
    from appliance.models import ModelStore

    models_dir = tmp_path / "models"
    models_dir.mkdir()
    shutil.copy(settings_module.ROOT / "models" / "manifest.json", models_dir / "manifest.json")

    missing = check_llm_speed(settings_module.load(environ={"APPLIANCE_PATHS_MODELS_DIR": str(models_dir)}),
                              ModelStore(models_dir))
    assert missing.state == "fail" and "cannot load" in missing.detail and "missing" in missing.detail
    http = check_llm_speed(settings_module.load(environ={"APPLIANCE_LLM_BACKEND": "http"}), store)
    assert http.state == "ok" and "measured by the server" in http.detail
