"""HTTP tests of `tapegrad serve`: a real server in a subprocess, hostile requests included."""

from __future__ import annotations

import http.client
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nn
from nn.playground import OptionError, Run

ROOT = Path(__file__).resolve().parents[1]
BODIES: list[bytes] = []  # every reply body seen, checked for tracebacks at the end


@dataclass
class Server:
    proc: subprocess.Popen[str]
    port: int

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        *,
        host: str | None = "default",
        length: bool = True,
    ) -> tuple[int, dict[str, str], bytes]:
        """One request with exactly these headers (Host and Content-Length unless told not to)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        if host is not None:
            conn.putheader("Host", f"127.0.0.1:{self.port}" if host == "default" else host)
        sent = dict(headers or {})
        if method == "POST":
            sent.setdefault("Content-Type", "application/json")
        for name, value in sent.items():
            conn.putheader(name, value)
        if body is not None and length:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        reply = conn.getresponse()
        data = reply.read()
        conn.close()
        BODIES.append(data)
        return reply.status, {k.lower(): v for k, v in reply.getheaders()}, data

    def json(self, method: str, path: str, options: Any = None, **kw: Any) -> tuple[int, Any]:
        body = None if method == "GET" else json.dumps({} if options is None else options).encode()
        status, headers, data = self.request(method, path, body, **kw)
        assert headers["content-type"] == "application/json", (status, data[:200])
        return status, strict_json(data)

    def create(self, options: dict[str, object] | None = None) -> tuple[str, Any]:
        status, reply = self.json("POST", "/api/runs", options or {"samples": 40, "hidden": "4"})
        assert status == 201, reply
        return reply["run"], reply

    def healthy(self) -> None:
        status, headers, page = self.request("GET", "/")
        assert status == 200 and headers["content-type"].startswith("text/html")
        assert b"<!--TG-JS-->" not in page and b"<!--TG-CSS-->" not in page
        assert self.proc.poll() is None


def strict_json(data: bytes) -> Any:
    def refuse(token: str) -> None:
        raise AssertionError(f"{token} in a JSON reply")

    return json.loads(data.decode("utf-8"), parse_constant=refuse)


def start(**env: str) -> Server:
    proc = subprocess.Popen(
        [sys.executable, "-m", "nn", "serve", "--port", "0", "--no-browser"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()  # the URL line comes first
    found = re.fullmatch(r"tapegrad serve: http://127\.0\.0\.1:(\d+)/ \(Ctrl-C to stop\)\n", line)
    assert found, line + (proc.stderr.read() if proc.stderr else "")
    return Server(proc, int(found.group(1)))


def stop(server: Server) -> str:
    server.proc.terminate()
    _, err = server.proc.communicate(timeout=30)
    return err


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    s = start()
    yield s
    err = stop(s)
    assert "Traceback" not in err, err
    for body in BODIES:
        assert b"Traceback" not in body


def wait_for(check: Callable[[], Any], seconds: float = 30.0, every: float = 0.05) -> Any:
    """Poll ``check`` until it returns something truthy (or fail at the deadline)."""
    deadline = time.monotonic() + seconds
    while True:
        result = check()
        if result:
            return result
        assert time.monotonic() < deadline, "timed out"
        time.sleep(every)


def refused(server: Server, status: int, reply: Any, expected: int) -> str:
    assert status == expected, reply
    assert set(reply) == {"error"} and isinstance(reply["error"], str)
    assert "\n" not in reply["error"]
    server.healthy()
    message: str = reply["error"]
    return message


# --- the page and the paths -------------------------------------------------------------


def test_the_page_is_one_document_with_its_css_and_js_inlined(server: Server) -> None:
    status, _, page = server.request("GET", "/")
    assert status == 200
    css = (ROOT / "nn" / "assets" / "playground.css").read_text(encoding="utf-8")
    assert css.strip().splitlines()[0].encode() in page
    assert server.request("GET", "/favicon.ico")[0] == 204


@pytest.mark.parametrize(
    "path",
    [
        "/../../etc/passwd",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/assets/../pyproject.toml",
        "/nn/assets/playground.js",
        "/playground.html",
        "/pyproject.toml",
        "/api/runs/../../../etc/passwd",
        "//etc/passwd",
        "/api/runs/x/../../../README.md",
    ],
)
def test_no_path_reaches_a_file(server: Server, path: str) -> None:
    status, reply = server.json("GET", path)
    refused(server, status, reply, 404)


def test_a_request_target_that_is_not_a_path_is_refused(server: Server) -> None:
    status, reply = server.json("GET", "http://127.0.0.1/etc/passwd")
    refused(server, status, reply, 400)


# --- who may ask ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host", ["evil.example:{port}", "127.0.0.1:1", "127.0.0.1", "attacker.com", "", None]
)
def test_a_foreign_host_header_is_refused(server: Server, host: str | None) -> None:
    value = None if host is None else host.format(port=server.port)
    status, reply = server.json("GET", "/api/runs/abc", host=value)
    refused(server, status, reply, 403)
    status, headers, _ = server.request("GET", "/", host=value)
    assert status == 403 and headers["content-type"] == "application/json"


@pytest.mark.parametrize("host", ["localhost:{port}", "[::1]:{port}", "LOCALHOST:{port}"])
def test_the_servers_own_names_are_answered(server: Server, host: str) -> None:
    status, _, _ = server.request("GET", "/", host=host.format(port=server.port))
    assert status == 200


@pytest.mark.parametrize("origin", ["http://evil.example", "null", "http://localhost:1"])
def test_a_cross_origin_write_is_refused(server: Server, origin: str) -> None:
    status, reply = server.json("POST", "/api/runs", {}, headers={"Origin": origin})
    refused(server, status, reply, 403)


def test_a_same_origin_write_is_answered(server: Server) -> None:
    origin = f"http://localhost:{server.port}"
    status, reply = server.json("POST", "/api/runs", {"samples": 30}, headers={"Origin": origin})
    assert status == 201, reply


# --- what they send -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"garbage", 400),
        (b"{", 400),
        (b'{"lr": NaN}', 400),
        (b'{"lr": Infinity}', 400),
        (b"\xff\xfe\x00", 400),
        (b"[" * 100_000, 400),
        (b"[1, 2]", 400),
        (b'"moons"', 400),
        (b"3", 400),
        (b"null", 400),
        (b'{"lr": 0.1} trailing', 400),
    ],
)
def test_a_body_that_is_not_a_json_object_is_refused(
    server: Server, body: bytes, expected: int
) -> None:
    status, headers, data = server.request("POST", "/api/runs", body)
    assert headers["content-type"] == "application/json"
    refused(server, status, strict_json(data), expected)


def test_an_oversized_body_is_refused_before_it_is_read(server: Server) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    conn.putrequest("POST", "/api/runs", skip_host=True)
    conn.putheader("Host", f"127.0.0.1:{server.port}")
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Content-Length", str(2 * 1024 * 1024))
    conn.endheaders()  # no body sent: the reply must not wait for it
    reply = conn.getresponse()
    data = reply.read()
    conn.close()
    BODIES.append(data)
    refused(server, reply.status, strict_json(data), 413)


def test_a_missing_or_bad_content_length_is_refused(server: Server) -> None:
    status, _, data = server.request("POST", "/api/runs", b"", length=False)
    refused(server, status, strict_json(data), 411)
    status, _, data = server.request(
        "POST", "/api/runs", b"{}", {"Content-Length": "lots"}, length=False
    )
    refused(server, status, strict_json(data), 400)
    status, _, data = server.request(
        "POST", "/api/runs", b"{}", {"Content-Length": "-1"}, length=False
    )
    refused(server, status, strict_json(data), 400)


def test_a_post_that_is_not_json_is_refused(server: Server) -> None:
    status, _, data = server.request("POST", "/api/runs", b"lr=1", {"Content-Type": "text/plain"})
    refused(server, status, strict_json(data), 415)


@pytest.mark.parametrize("raw", [b"GARBAGE\r\n\r\n", b"GET\r\n\r\n", b"\x00\x01\x02\r\n\r\n"])
def test_a_malformed_request_gets_json_and_the_server_stays_up(server: Server, raw: bytes) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(raw)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    BODIES.append(reply)
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.") and b" 400 " in head.split(b"\r\n")[0]
    assert "error" in strict_json(body)
    server.healthy()


def test_other_methods_are_refused(server: Server) -> None:
    for method in ("PUT", "DELETE", "OPTIONS", "PATCH"):
        status, _, data = server.request(method, "/api/runs")
        refused(server, status, strict_json(data), 405)
    status, reply = server.json("POST", "/")
    refused(server, status, reply, 405)


def empty_object(body: bytes) -> bool:
    """Whether the server should take ``body`` as no options at all."""
    if not body.strip():
        return True
    try:
        return bool(json.loads(body.decode("utf-8")) == {})
    except ValueError:
        return False


@settings(max_examples=30, deadline=None)
@given(body=st.one_of(st.binary(max_size=200), st.text(max_size=200).map(str.encode)))
def test_any_body_is_answered_with_json_and_never_a_traceback(server: Server, body: bytes) -> None:
    status, headers, data = server.request("POST", "/api/runs", body)
    assert headers["content-type"] == "application/json"
    reply = strict_json(data)
    assert status == (201 if empty_object(body) else 400), (status, reply)
    assert b"Traceback" not in data


# --- options and runs ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [{"lr": -1}, {"dataset": "moon"}, {"hidden": "8,x"}, {"learning_rate": 1}, {"samples": 5000}],
)
def test_a_bad_option_gets_the_message_the_cli_gives(server: Server, options: Any) -> None:
    status, reply = server.json("POST", "/api/runs", options)
    message = refused(server, status, reply, 400)
    with pytest.raises(OptionError) as info:
        Run(options)
    assert message == str(info.value)


def test_an_unknown_run_is_404_with_the_protocols_message(server: Server) -> None:
    for path in ("/api/runs/0123456789abcdef", "/api/runs/0123456789abcdef/model.json"):
        status, reply = server.json("GET", path)
        message = refused(server, status, reply, 404)
        assert message == (
            "no run 0123456789abcdef (it may have stopped after being left alone); reload the page"
        )
    status, reply = server.json("POST", "/api/runs/nope/step")
    refused(server, status, reply, 404)


def test_step_play_pause_configure(server: Server) -> None:
    run, reply = server.create()
    assert reply["state"]["step"] == 0 and reply["frame"]["points"] is not None
    status, reply = server.json("POST", f"/api/runs/{run}/step")
    assert status == 200 and reply["state"]["step"] == 1
    status, reply = server.json("GET", f"/api/runs/{run}")
    assert reply["state"]["step"] == 1 and reply["frame"]["points"] is None  # sent already
    status, reply = server.json("POST", f"/api/runs/{run}/play")
    assert status == 200 and reply["state"]["running"]
    wait_for(lambda: server.json("GET", f"/api/runs/{run}")[1]["state"]["step"] >= 5)
    status, reply = server.json("POST", f"/api/runs/{run}/step")
    refused(server, status, reply, 409)
    status, reply = server.json("POST", f"/api/runs/{run}/configure", {"lr": 0.25})
    assert reply["state"]["lr"] == 0.25 and reply["state"]["step"] >= 5
    status, paused = server.json("POST", f"/api/runs/{run}/pause")
    assert status == 200 and not paused["state"]["running"]
    held = paused["state"]["step"]
    assert server.json("GET", f"/api/runs/{run}")[1]["state"]["step"] == held  # pause holds
    status, reply = server.json("POST", f"/api/runs/{run}/step")
    assert reply["state"]["step"] == held + 1
    assert reply["frame"]["history"]["lr"][-1] == 0.25
    status, reply = server.json("POST", f"/api/runs/{run}/configure", {"hidden": "3"})
    assert status == 200 and reply["state"]["step"] == 0 and reply["frame"]["points"] is not None
    assert reply["frame"]["network"]["sizes"] == [2, 3, 1]
    status, reply = server.json("POST", f"/api/runs/{run}/configure", {"loss": "nope"})
    refused(server, status, reply, 400)
    assert server.json("GET", f"/api/runs/{run}")[1]["frame"]["network"]["sizes"] == [2, 3, 1]


def test_two_runs_are_independent(server: Server) -> None:
    a, _ = server.create()
    b, _ = server.create()
    assert a != b
    for _ in range(3):
        server.json("POST", f"/api/runs/{a}/step")
    server.json("POST", f"/api/runs/{a}/configure", {"lr": 0.5})
    sa, sb = (server.json("GET", f"/api/runs/{k}")[1] for k in (a, b))
    assert sa["state"]["step"] == 3 and sb["state"]["step"] == 0
    assert sa["state"]["lr"] == 0.5 and sb["state"]["lr"] == 1.0


def test_divergence_is_reported_and_stops_the_run(server: Server) -> None:
    run, _ = server.create({"samples": 40, "hidden": "4", "lr": 1e9})
    server.json("POST", f"/api/runs/{run}/play")
    state = wait_for(lambda: server.json("GET", f"/api/runs/{run}")[1]["state"]["diverged"])
    assert state["message"].startswith(f"training diverged at step {state['step']}")
    reply = server.json("GET", f"/api/runs/{run}")[1]
    assert not reply["state"]["running"]
    status, reply = server.json("POST", f"/api/runs/{run}/play")
    assert "training diverged" in refused(server, status, reply, 409)


def test_model_json_downloads_what_nn_load_reads(server: Server, tmp_path: Path) -> None:
    run, _ = server.create()
    server.json("POST", f"/api/runs/{run}/step")
    status, headers, data = server.request("GET", f"/api/runs/{run}/model.json")
    assert status == 200 and headers["content-disposition"] == 'attachment; filename="model.json"'
    path = tmp_path / "model.json"
    path.write_bytes(data)
    model = nn.load(path)
    weights = server.json("GET", f"/api/runs/{run}")[1]["frame"]["network"]["weights"]
    assert [[w.data for w in n.w] for n in model.layers[0].neurons] == weights[0]


def test_explain_is_a_page_and_a_bad_example_is_400(server: Server) -> None:
    run, _ = server.create()
    status, headers, page = server.request("GET", f"/api/runs/{run}/explain?example=2")
    assert status == 200 and headers["content-type"].startswith("text/html"), page[:300]
    assert page.lstrip().lower().startswith(b"<!doctype html")
    for bad in ("x", "-1", "40", "1e3"):
        status, reply = server.json("GET", f"/api/runs/{run}/explain?example={bad}")
        refused(server, status, reply, 400)


def test_at_most_eight_runs_are_kept(server: Server) -> None:
    first, _ = server.create()
    later = [server.create()[0] for _ in range(8)]
    assert server.json("GET", f"/api/runs/{first}")[0] == 404
    assert all(server.json("GET", f"/api/runs/{k}")[0] == 200 for k in later)


def test_a_run_left_alone_stops_then_is_dropped() -> None:
    s = start(TAPEGRAD_SERVE_IDLE_STOP="0.3", TAPEGRAD_SERVE_IDLE_DROP="2")
    try:
        run, _ = s.create()
        s.json("POST", f"/api/runs/{run}/play")
        # Each look is also a visit: look less often than the timeouts, until they act.
        wait_for(lambda: not s.json("GET", f"/api/runs/{run}")[1]["state"]["running"], every=0.6)
        wait_for(lambda: s.json("GET", f"/api/runs/{run}")[0] == 404, every=2.5)
        s.healthy()
    finally:
        stop(s)


def test_a_port_in_use_is_one_line_and_exit_status_2(server: Server) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "nn", "serve", "--port", str(server.port), "--no-browser"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "cannot listen on 127.0.0.1" in proc.stderr
