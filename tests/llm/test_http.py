import socket
import subprocess
import sys
import time

import pytest

from appliance.dialogue.prompt import messages
from appliance.errors import ApplianceError
from appliance.llm.http import HttpResponder
from appliance.llm.reply import Answer


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(store, tmp_path_factory):
    """llama-cpp-python's OpenAI-compatible server on loopback, with the tiny model."""
    port = free_port()
    log = tmp_path_factory.mktemp("server") / "server.log"
    with open(log, "wb") as output:
        process = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model",
                                    str(store.checked_path("llm-tiny")), "--host", "127.0.0.1", "--port", str(port),
                                    "--n_ctx", "2048", "--n_threads", "2", "--verbose", "false"],
                                   stdout=output, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()[-2000:]
            time.sleep(0.2)
    yield f"http://127.0.0.1:{port}/v1"
    process.terminate()
    process.wait(10)


def test_server_reply_streams_and_follows_the_schema(server):
    responder = HttpResponder(server)
    deltas = []
    result = responder.respond(messages("TechCorp", "What is your refund policy?", []), on_text=deltas.append)
    assert isinstance(result.reply, Answer)
    assert len(deltas) > 1 and "".join(deltas).strip() == result.reply.immediate_response
    assert result.raw.lstrip("{ ").startswith('"immediate_response"')  # the schema's grammar held the model
    assert result.tokens > 5 and result.first_token_ms <= result.first_text_ms <= result.total_ms
    again = responder.respond(messages("TechCorp", "Hello?", []))  # with the format the server took
    assert again.reply.immediate_response


def test_a_closed_port_is_unreachable_at_once():
    responder = HttpResponder(f"http://127.0.0.1:{free_port()}/v1", timeout_s=2)
    start = time.monotonic()
    with pytest.raises(ApplianceError) as error:
        responder.respond(messages("TechCorp", "Hello", []))
    assert error.value.code == "llm-server-unreachable"
    assert time.monotonic() - start < 2


def test_a_wrong_path_is_a_server_error(server):
    responder = HttpResponder(server.replace("/v1", "/nope"), timeout_s=5)
    with pytest.raises(ApplianceError) as error:
        responder.respond(messages("TechCorp", "Hello", []))
    assert error.value.code in ("llm-server-error", "llm-server-refused") and "404" in str(error.value)


def test_a_bad_url_is_refused():
    with pytest.raises(ApplianceError, match="llm-server-url"):
        HttpResponder("ftp://example")
