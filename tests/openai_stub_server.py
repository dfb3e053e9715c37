"""A small OpenAI-compatible server for tests: deterministic answers, switchable failures.

``POST /v1/chat/completions`` and ``POST /v1/completions`` (plain or streamed as server-sent
events) answer with a rule-based responder that reads the prompt the way a model would:
sentiment by keywords, QA by word overlap with the context, translation by copying the source,
summarization by the first sentence, similarity by word overlap, NER by capitalisation.

Failures are switched on through :class:`Behaviour`: a storm of 429/5xx for the first attempts
of every prompt (optionally with ``Retry-After``), slow answers (client timeouts), malformed
bodies and an error that echoes the ``Authorization`` header; and hostile ones: an answer that
trickles one byte at a time, a huge body, an answer that echoes the API key, a server that
never answers.  The server counts every request
and stops by itself after ``max_requests`` requests or ``lifetime_s`` seconds.

In a test::

    with StubServer() as server:
        server.behaviour.status_first_attempts = 2
        ... f"http:{server.url}?model=stub" ...

or from a shell: ``python tests/openai_stub_server.py --port 8000``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

POSITIVE = {"good", "great", "love", "loved", "excellent", "wonderful", "best", "enjoyed",
            "fantastic", "amazing", "perfect", "delicious", "brilliant", "happy", "fun"}
_WORD = re.compile(r"[A-Za-z0-9']+")


@dataclass
class Behaviour:
    """What the server does wrong (all off by default)."""

    status: int = 429                  # status of the storm
    status_first_attempts: int = 0     # the first N attempts of every prompt get ``status``
    retry_after: str | None = None     # Retry-After header sent with the storm
    delay_s: float = 0.0               # sleep before answering (client timeouts)
    delay_first_attempts: int | None = None  # only the first N attempts are slow (None: all)
    malformed: str | None = None       # "not_json", "no_choices", "no_content", "bad_stream"
    echo_auth_status: int | None = None  # answer this status with the Authorization header
    echo_key_in_answer: bool = False   # a 200 answer whose text contains the API key
    trickle_s: float = 0.0             # send the answer one byte every trickle_s seconds
    trickle_first_attempts: int | None = None  # only the first N attempts trickle (None: all)
    huge_body_mb: float = 0.0          # a 200 answer this many MB long, sent as fast as it goes
    hang: bool = False                 # read the request, then never answer (until stop)


@dataclass
class Stats:
    """What the server saw."""

    requests: int = 0
    statuses: Counter = field(default_factory=Counter)
    attempts: Counter = field(default_factory=Counter)   # prompt hash -> attempts
    answered: Counter = field(default_factory=Counter)   # prompt hash -> 200 answers
    auth_headers: set = field(default_factory=set)
    in_flight: int = 0
    max_in_flight: int = 0
    models: set = field(default_factory=set)
    bodies: list = field(default_factory=list)


# -- the responder -----------------------------------------------------------------------------
def _line_after(prompt: str, prefix: str) -> str:
    for line in prompt.splitlines():
        if line.startswith(prefix):
            return line[len(prefix):].strip()
    return ""


def _words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def respond(prompt: str, chat: bool) -> str:
    """A deterministic answer to a prompt built from an evalsuite template."""
    if prompt.startswith("Tokens:") or "\nTags:" in prompt:
        tokens = _line_after(prompt, "Tokens:").split()
        tags, previous = [], "O"
        for i, token in enumerate(tokens):
            if i > 0 and token[:1].isupper():
                tag = "I-PER" if previous != "O" else "B-PER"
            else:
                tag = "O"
            tags.append(tag)
            previous = tag
        return " ".join(tags)
    if "sentiment" in prompt.lower():
        text = _line_after(prompt, "Review:") or _line_after(prompt, "Text:")
        label = "positive" if POSITIVE & set(_words(text)) else "negative"
        return f"The sentiment is {label}." if chat else f" {label}"
    if "Question:" in prompt and "Context:" in prompt:
        context = _line_after(prompt, "Context:")
        question = set(_words(_line_after(prompt, "Question:"))) - {"what", "who", "the",
                                                                     "a", "is", "of", "in"}
        best, overlap = "", 0
        for sentence in re.split(r"(?<=[.!?])\s+", context):
            n = len(question & set(_words(sentence)))
            if n > overlap:
                best, overlap = sentence, n
        return " ".join(best.split()[:4]).strip(".,") if overlap >= 2 else "unanswerable"
    if prompt.startswith("Translate"):
        source_line = prompt.splitlines()[1] if len(prompt.splitlines()) > 1 else ""
        return " " + source_line.split(":", 1)[-1].strip()
    if "Summar" in prompt:
        body = prompt.split("\n\n")
        document = body[1] if len(body) > 1 else prompt
        return " " + re.split(r"(?<=[.!?])\s+", document.strip())[0]
    if "Sentence 1:" in prompt:
        a = set(_words(_line_after(prompt, "Sentence 1:")))
        b = set(_words(_line_after(prompt, "Sentence 2:")))
        score = 5 * len(a & b) / max(len(a | b), 1)
        return f"Score: {score:.2f}" if chat else f" {score:.2f}"
    return " ok"


# -- the server ----------------------------------------------------------------------------------
class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        if self.path.rstrip("/").endswith("/models"):
            self._json(200, {"object": "list", "data": [{"id": "stub", "object": "model"}]})
        else:
            self._json(404, {"error": {"message": f"no route {self.path}"}})

    def do_POST(self) -> None:
        stub = self.server.stub
        with stub.lock:
            stub.stats.in_flight += 1
            stub.stats.max_in_flight = max(stub.stats.max_in_flight, stub.stats.in_flight)
        try:
            self._post(stub)
        finally:
            with stub.lock:
                stub.stats.in_flight -= 1

    def _post(self, stub: StubServer) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        chat = self.path.rstrip("/").endswith("/chat/completions")
        if not chat and not self.path.rstrip("/").endswith("/completions"):
            self._json(404, {"error": {"message": f"no route {self.path}"}})
            return
        try:
            body = json.loads(raw)
        except ValueError:
            self._json(400, {"error": {"message": "request body is not JSON"}})
            return
        prompt = (body["messages"][-1]["content"] if chat else body.get("prompt", ""))
        key = hashlib.sha256(prompt.encode()).hexdigest()[:16]
        behaviour = stub.behaviour
        with stub.lock:
            stub.stats.requests += 1
            stub.stats.attempts[key] += 1
            attempt = stub.stats.attempts[key]
            stub.stats.models.add(body.get("model"))
            stub.stats.bodies.append(body)
            auth = self.headers.get("Authorization")
            if auth:
                stub.stats.auth_headers.add(auth)
            over_budget = stub.stats.requests > stub.max_requests
        self.attempt = attempt
        if over_budget:
            self._json(503, {"error": {"message": "stub request budget exhausted"}})
            stub.stop_soon()
            return
        if behaviour.echo_auth_status:
            self._json(behaviour.echo_auth_status,
                       {"error": {"message": f"invalid credentials {auth}"}})
            return
        if behaviour.hang:
            stub.stopped.wait()  # until the server stops: the client must give up first
            self.close_connection = True
            return
        if behaviour.huge_body_mb:
            self._huge(behaviour.huge_body_mb)
            return
        if attempt <= behaviour.status_first_attempts:
            headers = {"Retry-After": behaviour.retry_after} if behaviour.retry_after else {}
            self._json(behaviour.status, {"error": {"message": "slow down (stub storm)"}},
                       headers)
            return
        slow_n = behaviour.delay_first_attempts
        if behaviour.delay_s and (slow_n is None or attempt <= slow_n):
            time.sleep(behaviour.delay_s)
        answer = respond(prompt, chat)
        if behaviour.echo_key_in_answer:
            key = (auth or "").removeprefix("Bearer ")
            answer = f"{answer} (authorised with {key}; header was {auth})"
        usage = {"prompt_tokens": len(prompt.split()), "completion_tokens": len(answer.split()),
                 "total_tokens": len(prompt.split()) + len(answer.split())}
        with stub.lock:
            stub.stats.answered[key] += 1
        if behaviour.malformed == "not_json":
            self._send(200, b'{"choices": [{"message": ', "application/json")
            return
        if behaviour.malformed == "no_choices":
            self._json(200, {"id": "x", "object": "chat.completion", "choices": []})
            return
        if body.get("stream"):
            self._stream(answer, chat, usage, body.get("model"))
            return
        if behaviour.malformed == "no_content":
            choice: dict[str, Any] = {"index": 0, "message": {"role": "assistant"}}
        elif chat:
            choice = {"index": 0, "message": {"role": "assistant", "content": answer.strip()},
                      "finish_reason": "stop"}
        else:
            choice = {"index": 0, "text": answer, "finish_reason": "stop"}
        self._json(200, {"id": f"cmpl-{key}", "object": "chat.completion" if chat
                         else "text_completion", "model": body.get("model"),
                         "choices": [choice], "usage": usage})

    def _stream(self, answer: str, chat: bool, usage: dict, model: str | None) -> None:
        with self.server.stub.lock:
            self.server.stub.stats.statuses[200] += 1
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        pieces = re.findall(r"\s*\S+", answer) or [""]
        try:
            for piece in pieces:
                if self.server.stub.behaviour.malformed == "bad_stream":
                    self.wfile.write(b"data: {oops\n\n")
                    break
                delta = {"content": piece} if chat else None
                choice = ({"index": 0, "delta": delta, "finish_reason": None} if chat
                          else {"index": 0, "text": piece, "finish_reason": None})
                event = {"object": "chat.completion.chunk", "model": model, "choices": [choice]}
                self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
                self.wfile.flush()
                if self._trickles() and self.server.stub.stopped.wait(
                        self.server.stub.behaviour.trickle_s):
                    return
            last = ({"index": 0, "delta": {}, "finish_reason": "stop"} if chat
                    else {"index": 0, "text": "", "finish_reason": "stop"})
            self.wfile.write(f"data: {json.dumps({'choices': [last], 'usage': usage})}\n\n"
                             .encode())
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _json(self, status: int, data: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(data).encode(), "application/json", headers)

    def _trickles(self) -> bool:
        behaviour = self.server.stub.behaviour
        first = behaviour.trickle_first_attempts
        return bool(behaviour.trickle_s) and (first is None
                                              or getattr(self, "attempt", 1) <= first)

    def _huge(self, megabytes: float) -> None:
        """A valid-looking JSON answer ``megabytes`` long (its content is padding)."""
        size = int(megabytes * (1 << 20))
        head, tail = b'{"choices": [{"message": {"content": "', b'"}}]}'
        block = b"x" * (1 << 16)
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Connection", "close")  # no length: read until the end
            self.end_headers()
            self.close_connection = True
            self.wfile.write(head)
            sent = len(head)
            while sent < size and not self.server.stub.stopped.is_set():
                self.wfile.write(block)
                sent += len(block)
            self.wfile.write(tail)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client stopped reading: what it should do

    def _send(self, status: int, payload: bytes, content_type: str,
              headers: dict[str, str] | None = None) -> None:
        stub = self.server.stub
        with stub.lock:
            stub.stats.statuses[status] += 1
        trickle = self._trickles()
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            if trickle:  # one byte at a time: every read succeeds, the answer never ends
                for i in range(len(payload)):
                    self.wfile.write(payload[i:i + 1])
                    self.wfile.flush()
                    if stub.stopped.wait(stub.behaviour.trickle_s):
                        break
                return
            self.wfile.write(payload)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (a timeout): nothing to do


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128
    stub: StubServer


class StubServer:
    """The server on 127.0.0.1 (a free port), in a daemon thread; stops by itself."""

    def __init__(self, port: int = 0, *, max_requests: int = 5000,
                 lifetime_s: float = 300.0) -> None:
        self.behaviour = Behaviour()
        self.stats = Stats()
        self.lock = threading.Lock()
        self.max_requests = max_requests
        self.lifetime_s = lifetime_s
        self._httpd = _Server(("127.0.0.1", port), _Handler)
        self._httpd.stub = self
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._timer = threading.Timer(lifetime_s, self.stop)
        self._timer.daemon = True
        self.stopped = threading.Event()

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:54321/v1``."""
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> StubServer:
        self._thread.start()
        self._timer.start()
        return self

    def reset(self) -> None:
        with self.lock:
            self.behaviour = Behaviour()
            self.stats = Stats()

    def stop_soon(self) -> None:
        threading.Thread(target=self.stop, daemon=True).start()

    def stop(self) -> None:
        if self.stopped.is_set():
            return
        self.stopped.set()
        self._timer.cancel()
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> StubServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--lifetime", type=float, default=3600.0)
    parser.add_argument("--max-requests", type=int, default=100_000)
    args = parser.parse_args()
    server = StubServer(args.port, max_requests=args.max_requests, lifetime_s=args.lifetime)
    server.start()
    print(f"serving {server.url} for {args.lifetime:g} s", flush=True)
    server.stopped.wait()


if __name__ == "__main__":
    main()
