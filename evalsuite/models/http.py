"""``http`` models: OpenAI-compatible completion and chat endpoints.

Any server that speaks the OpenAI API (vLLM, TGI, llama.cpp server, Ollama, hosted APIs)
serves every family through generative prompting: the prompt comes from the task card's
``prompt`` template (option ``prompt`` overrides it; families without one use the defaults
of :mod:`evalsuite.models.prompts`, NER a tag-per-token prompt) and the answer is parsed
back into the family's prediction type::

    http:http://127.0.0.1:8000/v1?model=Qwen/Qwen2.5-0.5B-Instruct
    http:https://api.example.com/v1?model=m&api_key_env=EXAMPLE_API_KEY&concurrency=4

Options: ``model`` (required: the name the endpoint serves), ``api`` (``chat`` — the default —
or ``completions``), ``api_key_env`` (name of the environment variable holding the API key;
the key itself is never written to results, caches, logs or error messages), ``concurrency``
(requests in flight, default 8), ``timeout`` (seconds per request, default 30), ``retries``
(default 5: 429, 5xx, timeouts and connection errors are retried with exponential back-off
and jitter, honouring ``Retry-After``), ``backoff``/``backoff_max`` (first and longest wait in
seconds, default 0.5 and 30), ``stream`` (default false; when true the time to first token is
measured), ``prompt``, ``system`` (chat system message), ``shots_file``/``shots`` (few-shot
demonstrations, as for ``hf`` causal LMs), ``max_tokens``, ``temperature`` (default 0),
``top_p``, ``seed``, ``label_map``.

Per request the client-side latency (and time to first token when streaming), the number of
retries, generated tokens and whether generation hit ``max_tokens`` go into the example's
``meta``; the runner turns them into ``efficiency.request_latency_ms`` / ``ttft_ms``
percentiles.  The endpoint's weights are unknown, so the fingerprint covers the base URL,
the model name and the output-changing options only (``settings.fingerprint_note``).
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import os
import random
import re
import threading
import time
from collections.abc import Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from datetime import datetime, timezone
from typing import Any, ClassVar

from evalsuite.errors import RunError, SpecError
from evalsuite.families import Family
from evalsuite.models.base import (
    OPTION_CONVERTERS,
    ModelAdapter,
    Output,
    non_negative_int,
    positive_int,
)
from evalsuite.models.fewshot import ShotSource, shot_source
from evalsuite.models.prompts import (
    build_prompt,
    first_label,
    parse_answer_text,
    parse_similarity,
    stop_sequences,
    template_for,
    template_problem,
    text_sha,
    unknown_field_problem,
)
from evalsuite.models.registry import register
from evalsuite.models.shared import match_label
from evalsuite.tasks.cards import TaskCard

API_PATHS = {"chat": "/chat/completions", "completions": "/completions"}
RETRY_STATUSES = frozenset({408, 409, 425, 429})
DEFAULT_TAGS = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC")
NER_PROMPT = ("Tokens: {tokens}\nLabel every token with its named-entity tag in IOB2 format "
              "({tag_set}). Answer with exactly one tag per token ({n_tokens} tags), separated "
              "by spaces, in token order.\nTags:")
NER_FIELDS = frozenset({"tokens", "tag_set", "n_tokens", "id"})
DEFAULT_MAX_TOKENS = {Family.SENTIMENT: 16, Family.QA: 48, Family.SIMILARITY: 16,
                      Family.TRANSLATION: 256, Family.SUMMARIZATION: 192}
FINGERPRINT_NOTE = ("remote endpoint: its weights are unknown to evalsuite; the fingerprint "
                    "covers the base URL, the model name and output-changing options only")
# options that change how requests are sent, not what comes back
TRANSPORT_OPTIONS = frozenset({"api_key_env", "concurrency", "timeout", "retries", "backoff",
                               "backoff_max", "stream", "batch_size", "device"})
RETRY_AFTER_MAX_S = 120.0
_TAG = re.compile(r"^(?:O|[BI]-[A-Z0-9_]+)$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")




def _positive_float(value: Any) -> float:
    number = float(value)
    if not number > 0:
        raise ValueError("must be positive")
    return number


def _non_negative_float(value: Any) -> float:
    number = float(value)
    if not number >= 0:
        raise ValueError("must be 0 or more")
    return number


def _api(value: Any) -> str:
    text = str(value).strip().lower()
    if text not in API_PATHS:
        raise ValueError("choose chat or completions")
    return text




# -- prompts and answers -----------------------------------------------------------------------
def tag_set(card: TaskCard) -> list[str]:
    return list(card.tag_names or DEFAULT_TAGS)


def prompt_template(card: TaskCard, options: dict[str, Any]) -> str:
    """Option ``prompt``, else the card's ``prompt``, else the family's default."""
    if card.family is Family.NER:
        return str(options.get("prompt") or card.prompt or NER_PROMPT)
    return template_for(card, options)


def ner_template_problem(template: str) -> str | None:
    return unknown_field_problem(template, set(NER_FIELDS), "a field NER prompts have")


def render_prompt(template: str, card: TaskCard, example: dict[str, Any],
                  shots: Sequence[dict] = ()) -> str:
    """The prompt of one example, after few-shot demonstrations (prompt + answer)."""
    if card.family is not Family.NER:
        return build_prompt(template, card, example, shots)

    def fill_ner(ex: dict[str, Any]) -> str:
        tokens = [str(t) for t in ex["tokens"]]
        return template.format_map({"id": ex.get("id"), "tokens": " ".join(tokens),
                                    "tag_set": ", ".join(tag_set(card)),
                                    "n_tokens": len(tokens)})

    parts = [f"{fill_ner(shot)} {' '.join(shot['tags'])}" for shot in shots]
    return "\n\n".join([*parts, fill_ner(example)])


def parse_ner_answer(text: str, tokens: Sequence[str], tags: Sequence[str]
                     ) -> tuple[list[str], bool]:
    """Tags from an answer: one tag per token (spaces, commas or ``token TAG`` lines).

    Unknown tags become ``O``; a tag list of the wrong length is cut or padded with ``O``
    and reported as not parsed (``ok=False``).
    """
    known = set(tags)
    first_block = re.split(r"\n\s*\n", text.strip(), maxsplit=1)[0]
    found: list[str] = []
    for word in re.split(r"[\s,;|]+", first_block):
        word = word.strip("[](){}\"'`.:")
        if not _TAG.match(word.upper() if len(word) > 1 else word):
            continue
        tag = word.upper() if word != "O" else word
        found.append(tag if tag in known else "O")
    n = len(tokens)
    ok = len(found) == n
    return (found + ["O"] * n)[:n], ok


def parse_output(card: TaskCard, text: str, example: dict[str, Any],
                 label_map: dict[str, str] | None = None) -> tuple[Any, bool]:
    """A generated answer as the family's prediction, and whether it parsed cleanly.

    An answer that does not parse is a wrong prediction, not an error: sentiment ``""``
    (outside the label set), similarity the low end of the score range, NER padded tags.
    """
    family = card.family
    if family is Family.SENTIMENT:
        label = first_label(text, card.labels or [])
        if label is None:
            try:
                label = match_label(card, text.strip().strip(".!\"'"), label_map)
            except ValueError:
                return "", False
        elif label_map and label in label_map:
            label = label_map[label]
        return label, True
    if family is Family.SIMILARITY:
        from evalsuite.models.shared import score_range

        return parse_similarity(text, score_range(card))
    if family is Family.NER:
        return parse_ner_answer(text, example["tokens"], tag_set(card))
    source = str(example.get("source", "")) if family is Family.TRANSLATION else ""
    answer = parse_answer_text(family, text, source=source)
    return answer, bool(answer) or family is Family.QA


# -- the adapter --------------------------------------------------------------------------------
class _Failure(Exception):
    """One failed attempt; ``retry`` says whether another attempt may succeed."""

    def __init__(self, message: str, *, retry: bool, wait_s: float | None = None) -> None:
        super().__init__(message)
        self.retry = retry
        self.wait_s = wait_s


class _Aborted(Exception):
    """Another request of the batch failed; this one was not sent."""


@register
class HttpAdapter(ModelAdapter):
    """An OpenAI-compatible endpoint, prompted per family (see the module docstring)."""

    kind: ClassVar[str] = "http"
    families: ClassVar[frozenset[Family]] = frozenset(Family)
    extra_options: ClassVar[dict[str, Any]] = {
        "model": str, "api": _api, "api_key_env": str, "concurrency": positive_int,
        "timeout": _positive_float, "retries": non_negative_int, "backoff": _non_negative_float,
        "backoff_max": _non_negative_float, "stream": OPTION_CONVERTERS["bool"], "prompt": str,
        "system": str, "max_tokens": positive_int, "temperature": float, "top_p": float,
        "seed": int, "shots_file": str, "shots": positive_int,
    }
    default_batch_size: ClassVar[int] = 64

    def __init__(self, spec: Any) -> None:
        super().__init__(spec)
        where = f"model {spec.display_name}"
        base = spec.target.strip().rstrip("/")
        if not re.match(r"^https?://[^/\s]+", base):
            raise SpecError(f"the target must be the endpoint's base URL, e.g. "
                            f"http://127.0.0.1:8000/v1 (got {base!r})", where=where)
        env = spec.options.get("api_key_env")
        if env is not None and not _ENV_NAME.match(str(env).strip()):  # never echo: a key?
            raise SpecError("option api_key_env must be the NAME of an environment variable "
                            "that holds the API key (letters, digits and _), not the key",
                            where=where)
        if not self.options.get("model"):
            raise SpecError("http models need model=NAME (the model name the endpoint serves)",
                            where=where)
        self.api: str = self.options.get("api", "chat")
        for path in API_PATHS.values():  # a full endpoint URL works too
            base = base.removesuffix(path)
        self.base_url = base
        self.url = base + API_PATHS[self.api]
        self.model_name: str = self.options["model"]
        # how requests are sent, not what comes back: kept out of ``options`` so that the
        # model identity (and with it the cache key) ignores them
        self.transport = {k: self.options.pop(k) for k in sorted(TRANSPORT_OPTIONS)
                          if k in self.options and k not in ("batch_size", "device")}
        self.concurrency: int = self.transport.get("concurrency", 8)
        self.timeout: float = self.transport.get("timeout", 30.0)
        self.retries: int = self.transport.get("retries", 5)
        self.backoff: float = self.transport.get("backoff", 0.5)
        self.backoff_max: float = self.transport.get("backoff_max", 30.0)
        self.stream: bool = self.transport.get("stream", False)
        self.device = "remote"
        self._client: Any = None
        self._pool: ThreadPoolExecutor | None = None
        self._secret: str | None = None
        self._abort = threading.Event()
        self._random = random.Random()
        self._shots: dict[str, ShotSource] = {}

    @property
    def where(self) -> str:
        return f"http model {self.spec.display_name}"

    # -- lifecycle ------------------------------------------------------------------------
    def load(self) -> None:
        import httpx

        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        env = self.transport.get("api_key_env")
        if env:
            key = os.environ.get(env.strip(), "").strip()
            if not key:
                raise SpecError(f"the environment variable {env} (option api_key_env) is not "
                                f"set or empty", where=f"model {self.spec.display_name}")
            self._secret = key
            headers["Authorization"] = f"Bearer {key}"
        limits = httpx.Limits(max_connections=self.concurrency,
                              max_keepalive_connections=self.concurrency)
        self._client = httpx.Client(timeout=httpx.Timeout(self.timeout), limits=limits,
                                    headers=headers, follow_redirects=True)
        self._pool = ThreadPoolExecutor(max_workers=self.concurrency,
                                        thread_name_prefix="evalsuite-http")

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self._client is not None:
            self._client.close()
            self._client = None

    # -- capability and identity ----------------------------------------------------------
    def unsupported_reason(self, card: TaskCard) -> str | None:
        reason = super().unsupported_reason(card)
        if reason:
            return reason
        template = prompt_template(card, self.options)
        shots_file = self.options.get("shots_file")
        if shots_file and not os.path.isfile(os.path.expanduser(shots_file)):
            return f"option shots_file={shots_file!r}: no such file"
        if card.family is Family.NER:
            return ner_template_problem(template)
        return template_problem(template, card)

    def shots(self, card: TaskCard) -> ShotSource:
        """Few-shot demonstrations: option ``shots_file`` (the first ``shots``), or ``shots``
        sampled per example from the card's ``shots_split`` (as for ``hf``, docs/llm.md)."""
        if card.name not in self._shots:
            self._shots[card.name] = shot_source(card, self.options,
                                                 f"model {self.spec.display_name}")
        return self._shots[card.name]

    def fingerprint(self) -> str:
        """Base URL, model name and output-changing options (never the key or transport)."""
        options = {k: v for k, v in sorted(self.options.items()) if k not in TRANSPORT_OPTIONS}
        blob = json.dumps({"url": self.base_url, "api": self.api, "options": options},
                          sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def max_tokens(self, card: TaskCard, example: dict[str, Any] | None = None) -> int:
        if "max_tokens" in self.options:
            return int(self.options["max_tokens"])
        if card.family is Family.NER:
            return 16 + 8 * len(example["tokens"]) if example else 512
        return int(card.max_new_tokens or DEFAULT_MAX_TOKENS[card.family])

    def settings(self, card: TaskCard) -> dict[str, Any]:
        template = prompt_template(card, self.options)
        out: dict[str, Any] = {
            "api": self.api, "model": self.model_name, "prompt": template,
            "prompt_sha256": text_sha(template),
            "temperature": self.options.get("temperature", 0.0),
            "max_tokens": self.options.get("max_tokens")
            or ("per example" if card.family is Family.NER else self.max_tokens(card)),
            "fingerprint_note": FINGERPRINT_NOTE,
        }
        for key in ("top_p", "seed"):
            if key in self.options:
                out[key] = self.options[key]
        if "system" in self.options:
            out["system_sha256"] = text_sha(self.options["system"])
        out.update(self.shots(card).settings())
        if self.api == "completions":
            out["stop"] = stop_sequences(card)
        return out

    def is_out_of_memory(self, exc: BaseException) -> bool:
        return False  # a server's memory trouble is not solved by smaller client batches

    # -- prediction -----------------------------------------------------------------------
    def predict_batch(self, card: TaskCard, examples: Sequence[dict]) -> list[Output | Any]:
        if self._client is None or self._pool is None:
            self.load()
        assert self._pool is not None
        template = prompt_template(card, self.options)
        shots = self.shots(card)
        self._abort = abort = threading.Event()
        futures: list[Future] = [
            self._pool.submit(self._predict_one, card, ex,
                              render_prompt(template, card, ex, shots.choose(ex, card.family)),
                              abort)
            for ex in examples]
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        failed = [f for f in futures if f in done and f.exception() is not None
                  and not isinstance(f.exception(), _Aborted)]
        if failed:
            abort.set()
            for future in futures:
                future.cancel()
            wait(futures)
            raise failed[0].exception()  # type: ignore[misc]
        return [f.result() for f in futures]

    def _body(self, card: TaskCard, example: dict[str, Any], prompt: str) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model_name,
                                "max_tokens": self.max_tokens(card, example),
                                "temperature": self.options.get("temperature", 0.0)}
        for key in ("top_p", "seed"):
            if key in self.options:
                body[key] = self.options[key]
        if self.api == "chat":
            messages = []
            if self.options.get("system"):
                messages.append({"role": "system", "content": self.options["system"]})
            messages.append({"role": "user", "content": prompt})
            body["messages"] = messages
        else:
            body["prompt"] = prompt
            body["stop"] = stop_sequences(card, example)
        if self.stream:
            body["stream"] = True
        return body

    def _predict_one(self, card: TaskCard, example: dict[str, Any], prompt: str,
                     abort: threading.Event) -> Output:
        body = self._body(card, example, prompt)
        where = f"{self.where}, example {example['id']}"
        attempt = 0
        while True:
            if abort.is_set():
                raise _Aborted()
            start = time.perf_counter()
            try:
                text, info = self._send(body, where, start)
                break
            except _Failure as failure:
                if not failure.retry or attempt >= self.retries:
                    tries = f" after {attempt + 1} attempts" if attempt else ""
                    raise RunError(self._redact(f"{where}: {failure}{tries} ({self.url})")
                                   ) from None
                delay = failure.wait_s if failure.wait_s is not None else self._backoff(attempt)
                attempt += 1
                if abort.wait(delay):
                    raise _Aborted() from None
        prediction, ok = parse_output(card, text, example, self.options.get("label_map"))
        meta: dict[str, Any] = {"answer": text, "latency_ms": info["latency_ms"],
                                "retries": attempt}
        if not ok:
            meta["parse_failed"] = True
        for key in ("ttft_ms", "generated_tokens", "hit_length_limit"):
            if info.get(key) is not None:
                meta[key] = info[key]
        return Output(prediction, meta=meta)

    def _backoff(self, attempt: int) -> float:
        """Exponential back-off with jitter: uniform in [½, 1] × base × 2^attempt, capped."""
        ceiling = min(self.backoff_max, self.backoff * (2 ** attempt))
        return ceiling * (0.5 + 0.5 * self._random.random())

    def _send(self, body: dict[str, Any], where: str, start: float
              ) -> tuple[str, dict[str, Any]]:
        """One attempt: the answer text and timing/usage figures, or a ``_Failure``."""
        import httpx

        try:
            if self.stream:
                with self._client.stream("POST", self.url, json=body) as response:
                    self._check_status(response, read=True)
                    return self._read_stream(response, start)
            response = self._client.post(self.url, json=body)
            self._check_status(response)
            latency = 1000 * (time.perf_counter() - start)
            return self._read_json(response, latency)
        except httpx.TimeoutException:
            raise _Failure(f"timed out after {self.timeout:g} s", retry=True) from None
        except httpx.TransportError as exc:
            raise _Failure(f"connection error ({type(exc).__name__}: "
                           f"{str(exc)[:120] or 'no detail'})", retry=True) from None

    def _check_status(self, response: Any, *, read: bool = False) -> None:
        status = response.status_code
        if status < 400:
            return
        if read:
            response.read()
        detail = _error_detail(response.text)
        message = f"HTTP {status} {response.reason_phrase or ''}".rstrip()
        message += f": {detail}" if detail else ""
        retry = status in RETRY_STATUSES or status >= 500
        raise _Failure(message, retry=retry,
                       wait_s=_retry_after(response.headers.get("retry-after")) if retry
                       else None)

    def _read_json(self, response: Any, latency_ms: float) -> tuple[str, dict[str, Any]]:
        try:
            data = response.json()
        except ValueError:
            raise _Failure(f"malformed response: not JSON (body starts {response.text[:80]!r})",
                           retry=False) from None
        choice = self._choice(data)
        key = ("message", "content") if self.api == "chat" else ("text",)
        value: Any = choice
        for part in key:
            value = value.get(part) if isinstance(value, dict) else None
        if not isinstance(value, str):
            raise _Failure(f"malformed response: no string at choices[0].{'.'.join(key)} "
                           f"(body starts {response.text[:80]!r})", retry=False)
        usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
        return value, {"latency_ms": latency_ms,
                       "generated_tokens": usage.get("completion_tokens"),
                       "hit_length_limit": choice.get("finish_reason") == "length"}

    def _choice(self, data: Any) -> dict[str, Any]:
        if isinstance(data, dict) and data.get("error"):
            raise _Failure(f"error in response: {_error_detail(json.dumps(data))}",
                           retry=False)
        choices = data.get("choices") if isinstance(data, dict) else None
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise _Failure(f"malformed response: no choices[0] (body starts "
                           f"{json.dumps(data)[:80]!r})", retry=False)
        return choices[0]

    def _read_stream(self, response: Any, start: float) -> tuple[str, dict[str, Any]]:
        """Server-sent events: ``data: {chunk}`` lines until ``data: [DONE]``."""
        pieces: list[str] = []
        ttft: float | None = None
        chunks = 0
        finish = None
        usage: dict[str, Any] = {}
        for line in response.iter_lines():
            line = line.strip()
            if not line or line.startswith(":") or not line.startswith("data:"):
                continue
            payload = line[5:].strip()
            if payload == "[DONE]":
                break
            try:
                data = json.loads(payload)
            except ValueError:
                raise _Failure(f"malformed stream event: not JSON ({payload[:80]!r})",
                               retry=False) from None
            if isinstance(data.get("usage"), dict):
                usage = data["usage"]
            if not data.get("choices") and not data.get("error"):
                continue  # a usage-only chunk
            choice = self._choice(data)
            delta = choice.get("delta") if self.api == "chat" else choice
            content = delta.get("content" if self.api == "chat" else "text") \
                if isinstance(delta, dict) else None
            if content is not None and not isinstance(content, str):
                raise _Failure(f"malformed stream event: content is "
                               f"{type(content).__name__}", retry=False)
            if content:
                if ttft is None:
                    ttft = 1000 * (time.perf_counter() - start)
                pieces.append(content)
                chunks += 1
            finish = choice.get("finish_reason") or finish
        latency = 1000 * (time.perf_counter() - start)
        return "".join(pieces), {
            "latency_ms": latency, "ttft_ms": ttft if ttft is not None else latency,
            "generated_tokens": usage.get("completion_tokens", chunks),
            "hit_length_limit": finish == "length"}

    def _redact(self, text: str) -> str:
        if self._secret:
            text = text.replace(self._secret, "***")
        return text


def _error_detail(text: str) -> str:
    """The ``error.message`` of an OpenAI-style error body, else the body's start."""
    try:
        data = json.loads(text)
    except ValueError:
        return " ".join(text.split())[:160]
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        return str(error.get("message") or error)[:160]
    if error:
        return str(error)[:160]
    return " ".join(text.split())[:160]


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date), capped."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = (when - datetime.now(timezone.utc)).total_seconds()
    return min(max(seconds, 0.0), RETRY_AFTER_MAX_S)
