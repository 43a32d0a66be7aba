"""The playground's web server (``tapegrad serve``): one page, and training runs over JSON.

The standard library's ``ThreadingHTTPServer``: a local, single-user app needs
no framework, and a thread per connection means a slow request (an explain
page, a model download) never holds up the page's polls. Each running run
trains in a thread of its own, ``step()`` after ``step()``; every request
takes the run's lock, so it sees the run between two steps. The page polls
``GET /api/runs/<id>`` about ten times a second while a run trains.

Endpoints (JSON unless said otherwise; an error is ``{"error": "<one line>"}``
with a 4xx status, never a traceback; 500 only for a bug, also as JSON):

- ``GET /``: the page (``nn/assets/playground.html`` with its CSS and JS
  inlined); ``GET /favicon.ico``: 204. Nothing else is served: no path maps to
  a file.
- ``POST /api/runs`` with options -> 201 ``{"run", "state", "frame"}``.
- ``GET /api/runs/<id>`` -> ``{"state", "frame"}``.
- ``POST /api/runs/<id>/configure`` with options to merge, ``/play``,
  ``/pause``, ``/step`` -> ``{"state", "frame"}``.
- ``GET /api/runs/<id>/model.json``: the model file ``nn.load`` reads.
- ``GET /api/runs/<id>/explain?example=<k>``: ``autograd.explain``'s page.

Security of a local server: it binds 127.0.0.1 unless told otherwise; a Host
header other than its own address (127.0.0.1, localhost, [::1] or ``--host``,
with its port) gets 403, against DNS rebinding; a POST needs
``Content-Type: application/json`` and, when it has an ``Origin``, one of those
addresses (cross-site writes get 403); bodies are at most 1 MiB, checked before
reading; options are validated by the CLI's own code; runs are limited in size
(``nn.playground``) and number (8); a run no page asks about pauses after 3
minutes and is dropped after 10.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import sys
import threading
import time
import webbrowser
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from nn.io import ModelFileError
from nn.playground import OptionError, Run, page_html

__all__ = ["MAX_BODY", "MAX_RUNS", "PlaygroundServer", "make_server", "serve"]

MAX_BODY = 1 << 20
"""The largest request body, in bytes (1 MiB: room for a 2000-row CSV)."""

MAX_RUNS = 8
"""At most this many runs are kept; a new one drops the one left alone longest."""

IDLE_STOP = 180.0
"""A run no request has asked about for this many seconds stops training."""

IDLE_DROP = 600.0
"""... and is dropped after this many."""

_RUN_PATH = re.compile(r"/api/runs/([^/]+)(?:/(configure|play|pause|step|model\.json|explain))?")
_ACTIONS = {None: "GET", "configure": "POST", "play": "POST", "pause": "POST", "step": "POST"}
_ACTIONS.update({"model.json": "GET", "explain": "GET"})


class _Refused(Exception):
    """A request answered with a 4xx status and ``{"error": message}``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _env_seconds(name: str, default: float) -> float:
    text = os.environ.get(name)
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{name}={text!r} is not a number of seconds") from None
    if not value > 0:
        raise ValueError(f"{name}={text!r} must be a positive number of seconds")
    return value


class _Live:
    """A run on the server: its lock, its training thread, when a page last asked about it."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.lock = threading.Lock()
        self.gate = threading.Lock()  # requests queue here, so the training loop cannot starve them
        self.thread: threading.Thread | None = None
        self.seen = time.monotonic()
        self.points_sent = False
        self.dropped = False

    @contextmanager
    def held(self) -> Iterator[Run]:
        """The run, between two of its steps."""
        with self.gate, self.lock:
            self.seen = time.monotonic()
            yield self.run

    def view(self) -> dict[str, Any]:
        """``{"state", "frame"}``; the points only in the first frame of a run (then null)."""
        reply = {"state": self.run.state(), "frame": self.run.frame(points=not self.points_sent)}
        self.points_sent = True
        return reply


class PlaygroundServer(ThreadingHTTPServer):
    """The playground's HTTP server: the page and the runs (see the module docstring).

    Args:
        host: Address to listen on.
        port: TCP port (0: any free one; ``server_address`` tells which).
        idle_stop: Seconds without a request after which a run stops training.
        idle_drop: Seconds without a request after which a run is dropped.
    """

    daemon_threads = True

    def __init__(self, host: str, port: int, idle_stop: float, idle_drop: float) -> None:
        if ":" in host:
            self.address_family = socket.AF_INET6
        self.host = host
        self.idle_stop = idle_stop
        self.idle_drop = idle_drop
        self.runs: dict[str, _Live] = {}
        self.runs_lock = threading.Lock()
        self._closing = threading.Event()  # before binding: a failed bind calls server_close
        super().__init__((host, port), _Handler)
        self._janitor = threading.Thread(target=self._tidy, name="tapegrad-janitor", daemon=True)
        self._janitor.start()

    @property
    def port(self) -> int:
        """The port it listens on."""
        return int(self.server_address[1])

    def allowed_hosts(self) -> set[str]:
        """The Host headers it answers: its own addresses, with its port."""
        names = {"127.0.0.1", "localhost", "[::1]"}
        names.add(f"[{self.host}]" if ":" in self.host else self.host.lower())
        return {f"{name}:{self.port}" for name in names}

    def url(self) -> str:
        """The address to open in a browser."""
        host = self.host
        if host in ("", "0.0.0.0", "::"):
            host = "127.0.0.1"
        return f"http://{f'[{host}]' if ':' in host else host}:{self.port}/"

    # Runs -------------------------------------------------------------------

    def add(self, run: Run) -> tuple[str, _Live]:
        """Keep a new run (dropping the one left alone longest if there are MAX_RUNS)."""
        live = _Live(run)
        with self.runs_lock:
            while len(self.runs) >= MAX_RUNS:
                oldest = min(self.runs, key=lambda k: (self.runs[k].run.running, self.runs[k].seen))
                self._drop(oldest)
            key = secrets.token_hex(8)
            self.runs[key] = live
        return key, live

    def get(self, key: str) -> _Live:
        """The run with this id, or 404."""
        with self.runs_lock:
            live = self.runs.get(key)
        if live is None:
            shown = key if re.fullmatch(r"[0-9A-Za-z_-]{1,64}", key) else "with that id"
            raise _Refused(
                404, f"no run {shown} (it may have stopped after being left alone); reload the page"
            )
        return live

    def _drop(self, key: str) -> None:
        live = self.runs.pop(key)
        live.dropped = True
        live.run.running = False
        live.run.close()

    def play(self, live: _Live) -> None:
        """Start the run's training thread (the caller holds the run's lock)."""
        live.run.running = True
        if live.thread is None or not live.thread.is_alive():
            live.thread = threading.Thread(
                target=self._train, args=(live,), name="tapegrad-run", daemon=True
            )
            live.thread.start()

    def _train(self, live: _Live) -> None:
        """A running run's loop: one step at a time until paused, stopped or dropped."""
        while True:
            with live.gate:
                pass  # a request waiting for the run goes first
            with live.lock:
                run = live.run
                if live.dropped or not run.running or self._closing.is_set():
                    live.thread = None
                    return
                try:
                    run.step()
                except Exception as exc:  # a bug: the run stops, the server keeps serving
                    run.running = False
                    run.error = f"internal error at step {len(run.history)}: {_one_line(exc)}"
                    _log(f"run stopped by {_one_line(exc)}")
                    live.thread = None
                    return

    def _tidy(self) -> None:
        """Stop the runs left alone for idle_stop seconds, drop those left for idle_drop."""
        tick = min(1.0, self.idle_stop / 4, self.idle_drop / 4)
        while not self._closing.wait(tick):
            now = time.monotonic()
            with self.runs_lock:
                for key, live in list(self.runs.items()):
                    idle = now - live.seen
                    if idle > self.idle_drop:
                        self._drop(key)
                    elif idle > self.idle_stop:
                        live.run.running = False  # its loop ends after the current step

    def server_close(self) -> None:
        """Stop every run, then close the socket."""
        self._closing.set()
        with self.runs_lock:
            for key in list(self.runs):
                self._drop(key)
        super().server_close()


def _one_line(exc: BaseException) -> str:
    return " ".join(f"{type(exc).__name__}: {exc}".split())[:500]


def _log(message: str) -> None:
    print(f"tapegrad serve: {message}", file=sys.stderr, flush=True)


def _reject_constant(token: str) -> Any:
    raise ValueError(f"{token} is not a number JSON allows")


class _Handler(BaseHTTPRequestHandler):
    """One connection's requests (see the module docstring for the routes)."""

    server: PlaygroundServer
    server_version = "tapegrad-serve"
    sys_version = ""
    protocol_version = "HTTP/1.1"
    timeout = 30  # seconds a client may take to send its request

    def version_string(self) -> str:
        """The Server header: the name only."""
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the page polls ten times a second; errors are logged by _answer."""

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own errors (a malformed request line, ...) as JSON too."""
        text = message or self.responses.get(code, ("error",))[0]
        self.close_connection = True
        if self.request_version == "HTTP/0.9":  # the request line did not parse: answer in 1.x
            self.request_version = "HTTP/1.0"
        self._send(code, _json({"error": " ".join(str(text).split())}), "application/json")

    def do_GET(self) -> None:
        """Answer a GET."""
        self._answer("GET")

    def do_POST(self) -> None:
        """Answer a POST."""
        self._answer("POST")

    def do_HEAD(self) -> None:
        """HEAD is refused like every other method but GET and POST."""
        self._refuse_method()

    def do_PUT(self) -> None:
        """Refused."""
        self._refuse_method()

    def do_DELETE(self) -> None:
        """Refused."""
        self._refuse_method()

    def do_PATCH(self) -> None:
        """Refused."""
        self._refuse_method()

    def do_OPTIONS(self) -> None:
        """Refused: no cross-origin request is ever allowed, so no preflight succeeds."""
        self._refuse_method()

    def _refuse_method(self) -> None:
        self.close_connection = True
        body = _json({"error": f"method {self.command} is not allowed; use GET or POST"})
        self._send(405, body, "application/json", {"Allow": "GET, POST"})

    def _answer(self, method: str) -> None:
        try:
            status, body, kind, headers = self._route(method)
        except _Refused as exc:
            status, kind, headers = exc.status, "application/json", {}
            body = _json({"error": " ".join(str(exc).split())})
        except OptionError as exc:
            status, kind, headers = 400, "application/json", {}
            body = _json({"error": " ".join(str(exc).split())})
        except Exception as exc:  # a bug: one line in the log and to the page, no traceback
            _log(f"500 {method} {self.path[:200]}: {_one_line(exc)}")
            status, kind, headers = 500, "application/json", {}
            body = _json({"error": f"internal error: {_one_line(exc)}; the server keeps running"})
        if status >= 400:
            self.close_connection = True  # an unread body must not become the next request
        self._send(status, body, kind, headers)

    def _send(
        self, status: int, body: bytes, kind: str, headers: dict[str, str] | None = None
    ) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("Referrer-Policy", "no-referrer")
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            self.close_connection = True  # the client went away; nothing to tell it

    # Checks -----------------------------------------------------------------

    def _check_host(self) -> None:
        host = (self.headers.get("Host") or "").strip().lower()
        if host not in self.server.allowed_hosts():
            raise _Refused(
                403,
                f"this server answers requests for http://127.0.0.1:{self.server.port}/ "
                f"(or localhost), not for Host {host[:100]!r}",
            )

    def _check_write(self) -> None:
        origin = self.headers.get("Origin")
        if origin is not None and origin.lower() not in {
            f"http://{h}" for h in self.server.allowed_hosts()
        }:
            raise _Refused(403, f"cross-origin request from {origin[:100]!r} refused")
        if self.headers.get_content_type() != "application/json":
            raise _Refused(415, "a POST's body must be JSON (Content-Type: application/json)")

    def _body(self) -> dict[str, object]:
        length = self.headers.get("Content-Length")
        if length is None:
            raise _Refused(411, "a POST needs a Content-Length header")
        if not re.fullmatch(r"[0-9]{1,12}", length.strip()):
            raise _Refused(400, f"Content-Length {length[:40]!r} is not a number of bytes")
        size = int(length)
        if size > MAX_BODY:
            raise _Refused(413, f"the body is {size} bytes; at most {MAX_BODY} (1 MiB)")
        try:
            raw = self.rfile.read(size)
        except (TimeoutError, OSError):
            raise _Refused(408, "the body did not arrive in time") from None
        if len(raw) != size:
            raise _Refused(400, f"the body ended after {len(raw)} of {size} bytes")
        if not raw.strip():
            return {}
        try:
            options = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
        except UnicodeDecodeError:
            raise _Refused(400, "the body is not UTF-8 text") from None
        except json.JSONDecodeError as exc:
            raise _Refused(
                400, f"the body is not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
            ) from None
        except (ValueError, RecursionError) as exc:
            raise _Refused(
                400, f"the body is not JSON the server takes ({_one_line(exc)})"
            ) from None
        if not isinstance(options, dict):
            raise _Refused(
                400,
                'the body must be a JSON object of options, like {"lr": 0.1}; '
                f"got {type(options).__name__}",
            )
        return options

    # Routes -----------------------------------------------------------------

    def _route(self, method: str) -> tuple[int, bytes, str, dict[str, str]]:
        self._check_host()
        if not self.path.startswith("/"):
            raise _Refused(400, "the request target must be a path starting with /")
        parts = urlsplit(self.path)
        path = parts.path
        if method == "POST":
            self._check_write()
        if path in ("/", "/favicon.ico", "/api/runs"):
            wanted = "POST" if path == "/api/runs" else "GET"
            if method != wanted:
                raise _Refused(405, f"{path} takes {wanted}, not {method}")
            if path == "/":
                return 200, page_html().encode("utf-8"), "text/html; charset=utf-8", {}
            if path == "/favicon.ico":
                return 204, b"", "image/x-icon", {}
            run = Run(self._body())
            key, live = self.server.add(run)
            with live.held():
                reply = {"run": key, **live.view()}
            return 201, _json(reply), "application/json", {}
        found = _RUN_PATH.fullmatch(path)
        if found is None:
            raise _Refused(404, f"nothing at {path[:100]!r}; the playground is at /")
        key, action = found.group(1), found.group(2)
        if method != _ACTIONS[action]:
            raise _Refused(405, f"{path[:100]} takes {_ACTIONS[action]}, not {method}")
        live = self.server.get(key)
        body = self._body() if method == "POST" else {}
        handler = getattr(self, f"_{(action or 'view').replace('.', '_')}")
        result: tuple[int, bytes, str, dict[str, str]] = handler(live, body, parts.query)
        return result

    def _ok(self, live: _Live) -> tuple[int, bytes, str, dict[str, str]]:
        return 200, _json(live.view()), "application/json", {}

    def _view(self, live: _Live, body: dict[str, object], query: str) -> Any:
        with live.held():
            return self._ok(live)

    def _configure(self, live: _Live, body: dict[str, object], query: str) -> Any:
        with live.held() as run:
            new = run.configure(body)
            if new is not run:
                live.run = new
                live.points_sent = False
                run.running = False
                run.close()
                if new.running:
                    self.server.play(live)
            return self._ok(live)

    def _play(self, live: _Live, body: dict[str, object], query: str) -> Any:
        with live.held() as run:
            _check_can_step(run)
            self.server.play(live)
            return self._ok(live)

    def _pause(self, live: _Live, body: dict[str, object], query: str) -> Any:
        with live.held() as run:
            run.running = False
            thread = live.thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=60)  # it ends after the step it is taking
        with live.held():
            return self._ok(live)

    def _step(self, live: _Live, body: dict[str, object], query: str) -> Any:
        with live.held() as run:
            if run.running:
                raise _Refused(409, "the run is training; pause it before stepping once")
            _check_can_step(run)
            run.step()
            return self._ok(live)

    def _model_json(self, live: _Live, body: dict[str, object], query: str) -> Any:
        with live.held() as run:
            try:
                data = run.model_json()
            except ModelFileError as exc:
                raise _Refused(
                    409, f"no model to download: {exc.reason}; start a new run (change an option)"
                ) from None
        headers = {"Content-Disposition": 'attachment; filename="model.json"'}
        return 200, data, "application/json", headers

    def _explain(self, live: _Live, body: dict[str, object], query: str) -> Any:
        values = parse_qs(query).get("example")
        k: object = values[0] if values else None
        with live.held() as run:
            page = run.explain_html(None if k in (None, "") else _index(k))
        return 200, page.encode("utf-8"), "text/html; charset=utf-8", {}


def _index(text: object) -> int:
    if not (isinstance(text, str) and re.fullmatch(r"[0-9]{1,9}", text)):
        raise _Refused(400, f"example={str(text)[:40]!r} is not an example index (0, 1, 2, ...)")
    return int(text)


def _check_can_step(run: Run) -> None:
    if run.diverged is not None:
        raise _Refused(
            409,
            f"{run.diverged['message']}; change the learning rate (or any option) to start again",
        )
    if run.stopped:
        raise _Refused(409, run.error or "the run has stopped; change an option to start again")


def _json(value: Any) -> bytes:
    return json.dumps(value, allow_nan=False, separators=(",", ":")).encode("utf-8")


def make_server(
    host: str = "127.0.0.1",
    port: int = 8765,
    *,
    idle_stop: float | None = None,
    idle_drop: float | None = None,
) -> PlaygroundServer:
    """The playground's server, listening but not yet serving (call ``serve_forever``).

    Args:
        host: Address to listen on (127.0.0.1: this machine only).
        port: TCP port; 0 picks a free one (``server.server_address`` tells).
        idle_stop: Seconds without a request before a run stops training
            (default 180, or the environment's ``TAPEGRAD_SERVE_IDLE_STOP``).
        idle_drop: Seconds before such a run is dropped (default 600, or
            ``TAPEGRAD_SERVE_IDLE_DROP``).

    Returns:
        The server.

    Raises:
        OSError: The address cannot be listened on (a port in use, ...).
    """
    stop = (
        idle_stop if idle_stop is not None else _env_seconds("TAPEGRAD_SERVE_IDLE_STOP", IDLE_STOP)
    )
    drop = (
        idle_drop if idle_drop is not None else _env_seconds("TAPEGRAD_SERVE_IDLE_DROP", IDLE_DROP)
    )
    return PlaygroundServer(host, port, stop, drop)


def serve(
    host: str = "127.0.0.1",
    port: int = 8765,
    open_browser: bool = True,
    *,
    opener: Callable[[str], object] = webbrowser.open,
) -> int:
    """Run the playground until Ctrl-C: print its address, open it in a browser.

    Args:
        host: Address to listen on.
        port: TCP port (0: any free one; the printed address tells).
        open_browser: Open the page in the default web browser.
        opener: What opens it (``webbrowser.open``).

    Returns:
        0, once stopped by Ctrl-C.

    Raises:
        OSError: The address cannot be listened on.
    """
    server = make_server(host, port)
    url = server.url()
    print(f"tapegrad serve: {url} (Ctrl-C to stop)", flush=True)
    if open_browser:
        threading.Thread(target=opener, args=(url,), daemon=True).start()
    try:
        server.serve_forever(poll_interval=0.25)
    except KeyboardInterrupt:
        print("tapegrad serve: stopped", flush=True)
    finally:
        server.server_close()
    return 0
