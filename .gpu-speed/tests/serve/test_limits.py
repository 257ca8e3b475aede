"""What clients can send that they should not: every refusal is a 4xx naming the field,
never a 500; slow, idle, oversized and vanished clients cost the server nothing lasting."""

from __future__ import annotations

import json
import socket
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from serve_helpers import CHAT_TEMPLATE, post, running_server, tiny_model

from fgtui.engine.cli import main as fgtui_main
from fgtui.engine.serve.completions import CompletionService
from fgtui.engine.serve.requests import COMPLETION_FIELDS, RequestError, parse_body


@pytest.fixture(scope="module")
def service():
    model, tokenizer = tiny_model()
    tokenizer.chat_template = CHAT_TEMPLATE
    service = CompletionService(model, tokenizer, "tiny", max_rows=4, max_waiting=8)
    yield service
    service.close()


@pytest.fixture(scope="module")
def served(service):
    with running_server(service, idle_timeout=0.5, read_timeout=1.0, max_connections=300) as (server, base):
        yield server, base


@pytest.mark.parametrize(
    "raw, param",
    [
        (b'{"prompt": "x", "temperature": NaN}', "temperature"),
        (b'{"prompt": "x", "top_p": Infinity}', "top_p"),
        (b'{"prompt": "x", "presence_penalty": -Infinity}', "presence_penalty"),
        (b'{"prompt": "x", "frequency_penalty": 1e999}', "frequency_penalty"),
        (b'{"prompt": "\\ud800 lone"}', "prompt"),
        (b'{"prompt": ["ok", "\\udfff"]}', "prompt[1]"),
        (b'{"prompt": "x", "stop": ["\\ud83d"]}', "stop[0]"),
        (b'{"prompt": "x", "max_tokens": "5"}', "max_tokens"),
        (b'{"prompt": "x", "stream": "yes"}', "stream"),
        (b'{"prompt": "x", "echo": 1}', "echo"),
        (b'{"prompt": "x", "n": true}', "n"),
        (b'{"prompt": "x", "seed": 1.5}', "seed"),
        (b'{"prompt": "x", "logprobs": 50}', "logprobs"),
        (b'{"prompt": "x", "logit_bias": [1]}', "logit_bias"),
        (b'{"prompt": "x", "logit_bias": {"abc": 1}}', "logit_bias"),
        (b'{"prompt": "x", "logit_bias": {"5": 500}}', "logit_bias"),
        (b'{"prompt": "x", "logit_bias": {"\\u00b2": 1}}', "logit_bias"),
        (b'{"prompt": "x", "max_tokens": 1' + b"0" * 400 + b"}", "max_tokens"),
        (b'{"prompt": "x", "temperature": 1' + b"0" * 400 + b"}", "temperature"),
        (b'{"prompt": "x", "stop": 5}', "stop"),
        (b'{"prompt": "x", "model": 7}', "model"),
        (b'{"prompt": 12}', "prompt"),
        (b'{"prompt": "x", "stream_options": {"include_usage": true}}', "stream_options"),
    ],
)
def test_bad_values_are_400_naming_the_field(served, raw, param):
    status, answer = post(f"{served[1]}/completions", raw)
    assert status == 400, answer
    assert answer["error"]["param"] == param and answer["error"]["type"] == "invalid_request_error"


@pytest.mark.parametrize(
    "raw, words",
    [
        (b'{"prompt": "\xff\xfe"}', "not UTF-8"),
        (b"[" * 100000, "nests too deeply"),
        (b'{"prompt": "x"', "not JSON"),
        (b"", "must be a JSON object"),
    ],
)
def test_bodies_that_are_not_json_objects(served, raw, words):
    status, answer = post(f"{served[1]}/completions", raw)
    assert status == 400 and words in answer["error"]["message"]


def test_chat_fields_are_named_too(served):
    base = served[1]
    for raw, param in (
        (b'{"messages": [{"role": "user", "content": "\\ud800"}]}', "messages[0].content"),
        (b'{"messages": "hi"}', "messages"),
        (b'{"messages": [{"role": "user", "content": 5}]}', "messages[0].content"),
        (b'{"messages": [{"role": "user", "content": "x"}], "top_logprobs": 2}', "top_logprobs"),
        (b'{"messages": [{"role": "user", "content": "x"}], "logprobs": "yes"}', "logprobs"),
    ):
        status, answer = post(f"{base}/chat/completions", raw)
        assert status == 400 and answer["error"]["param"] == param, answer


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**400), 10**400) | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=st.dictionaries(st.sampled_from(sorted(COMPLETION_FIELDS | {"messages", "top_logprobs"})), _json, max_size=6),
    chat=st.booleans(),
)
def test_any_json_is_read_or_refused_never_crashes(service, body, chat):
    body.setdefault("prompt", "x")
    raw = json.dumps(body, allow_nan=True).encode("utf-8", "surrogatepass")
    try:
        job = service.prepare(parse_body(raw), chat=chat)
    except RequestError as error:
        assert 400 <= error.status < 500 and str(error)
    else:
        assert job.prompts and all(job.prompts)


def _raw_exchange(port: int, data: bytes, wait: float = 5.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as sock:
        sock.sendall(data)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
        return received


def test_head_and_body_limits_and_chunked_bodies(served):
    port = served[0].server_address[1]
    big_header = b"POST /v1/completions HTTP/1.1\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n"
    assert _raw_exchange(port, big_header).startswith(b"HTTP/1.1 431")
    huge = b"POST /v1/completions HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n"
    assert _raw_exchange(port, huge).startswith(b"HTTP/1.1 413")
    chunked = b"POST /v1/completions HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
    assert _raw_exchange(port, chunked).startswith(b"HTTP/1.1 411")
    assert _raw_exchange(port, b"NONSENSE\r\n\r\n").startswith(b"HTTP/1.1 400")
    body = json.dumps({"prompt": "The", "max_tokens": 2}).encode()
    expect = (
        b"POST /v1/completions HTTP/1.1\r\nContent-Length: %d\r\nExpect: 100-continue\r\n"
        b"Connection: close\r\n\r\n" % len(body)
    ) + body
    answer = _raw_exchange(port, expect)
    assert answer.startswith(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK") and b"text_completion" in answer


def test_idle_and_slow_connections_are_closed(served, service):
    server, base = served
    port = server.server_address[1]
    idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(200)]
    slow = socket.create_connection(("127.0.0.1", port))
    slow.sendall(b'POST /v1/completions HTTP/1.1\r\nContent-Length: 50\r\n\r\n{"prompt"')  # and then nothing
    try:
        status, answer = post(
            f"{base}/completions",
            {"prompt": "The", "max_tokens": 3, "logit_bias": {str(service.tokenizer.eos_token_id): -100}},
        )
        assert status == 200 and answer["usage"]["completion_tokens"] == 3  # answered beside 201 stuck clients
        for sock in idle + [slow]:
            sock.settimeout(10)
            assert sock.recv(1) == b""  # the server closed it (idle 0.5 s, read 1 s)
        deadline = time.monotonic() + 10
        while server.open_connections and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.open_connections == 0
    finally:
        for sock in idle + [slow]:
            sock.close()


def test_too_many_connections_get_503(service):
    with running_server(service, max_connections=2) as (server, _):
        port = server.server_address[1]
        held = [socket.create_connection(("127.0.0.1", port)) for _ in range(2)]
        try:
            time.sleep(0.2)
            assert _raw_exchange(port, b"").startswith(b"HTTP/1.1 503")
        finally:
            for sock in held:
                sock.close()


@pytest.mark.parametrize("stream", [False, True])
def test_a_client_that_leaves_frees_its_row(served, service, monkeypatch, stream):
    engine = service.engine
    submitted = []
    submit = engine.submit
    monkeypatch.setattr(engine, "submit", lambda *a, **k: submitted.extend(submit(*a, **k)) or submitted[-1:])
    forward = service.model.forward

    def slow_forward(*args, **kwargs):
        time.sleep(0.02)
        return forward(*args, **kwargs)

    monkeypatch.setattr(service.model, "forward", slow_forward)
    port = served[0].server_address[1]
    body = json.dumps({"prompt": "The", "max_tokens": 80, "temperature": 0, "stream": stream}).encode()
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(b"POST /v1/completions HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    if stream:
        assert sock.recv(4096).startswith(b"HTTP/1.1 200")
    deadline = time.monotonic() + 10
    while not (submitted and submitted[0].generated > 2) and time.monotonic() < deadline:
        time.sleep(0.01)
    sock.close()
    while (engine.active or not submitted[0].cancelled) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert submitted[0].cancelled and engine.active == 0
    assert submitted[0].generated < 80  # it left the batch early, not at max_tokens


def test_a_full_queue_is_503(service, served, monkeypatch):
    from fgtui.engine.serve.engine import Busy

    def busy(*args, **kwargs):
        raise Busy("8 sequences are already waiting")

    monkeypatch.setattr(service.engine, "submit", busy)
    status, answer = post(f"{served[1]}/completions", {"prompt": "x", "max_tokens": 2})
    assert status == 503 and answer["error"]["code"] == "server_busy"


def test_an_open_address_needs_a_key_or_insecure(capsys, monkeypatch):
    monkeypatch.delenv("FGTUI_API_KEY", raising=False)
    assert fgtui_main(["serve", "/nonexistent-model", "--host", "0.0.0.0"]) == 2
    err = capsys.readouterr().err
    assert "without an API key" in err and "--api-key" in err
    # With a key (or --insecure) it goes on to load the model, which here does not exist.
    monkeypatch.setenv("FGTUI_API_KEY", "k")
    assert fgtui_main(["serve", "/nonexistent-model", "--host", "0.0.0.0"]) == 2
    assert "without an API key" not in capsys.readouterr().err
    monkeypatch.delenv("FGTUI_API_KEY")
    assert fgtui_main(["serve", "/nonexistent-model", "--host", "0.0.0.0", "--insecure"]) == 2
    assert "without an API key" not in capsys.readouterr().err


def test_one_keep_alive_connection_carries_many_requests(served, service):
    import http.client

    no_end = {str(service.tokenizer.eos_token_id): -100}  # exactly one token each

    connection = http.client.HTTPConnection("127.0.0.1", served[0].server_address[1], timeout=30)
    try:
        for index in range(30):  # the hangup watcher of each answer must be gone before the next read
            body = {"prompt": f"{index}", "max_tokens": 1, "logit_bias": no_end}
            connection.request(
                "POST", "/v1/completions", body=json.dumps(body), headers={"Content-Type": "application/json"}
            )
            response = connection.getresponse()
            assert response.status == 200 and json.loads(response.read())["usage"]["completion_tokens"] == 1
    finally:
        connection.close()
