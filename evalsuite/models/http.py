"""``http`` models: OpenAI-compatible completion and chat endpoints.

Any server that speaks the OpenAI API (vLLM, TGI, llama.cpp server, Ollama, hosted APIs)
serves every family through generative prompting: the prompt comes from the task card's
``prompt`` template (option ``prompt`` overrides it; families without one use the defaults
of :mod:`evalsuite.prompts.templates`, NER a tag-per-token prompt) and the answer is parsed
back into the family's prediction type::

    http:http://127.0.0.1:8000/v1?model=Qwen/Qwen2.5-0.5B-Instruct
    http:https://api.example.com/v1?model=m&api_key_env=EXAMPLE_API_KEY&concurrency=4

Options: ``model`` (required: the name the endpoint serves), ``api`` (``chat`` — the default —
or ``completions``), ``api_key_env`` (name of the environment variable holding the API key;
the key itself is never written to results, caches, logs or error messages), ``concurrency``
(requests in flight, default 8), ``timeout`` (seconds per request attempt, default 30: a
total deadline covering connect, send and the whole answer, so a server that trickles bytes
or never answers cannot hold a run), ``max_response_mb`` (largest answer read, default 16;
a larger one fails without retry), ``retries``
(default 5: 429, 5xx, timeouts and connection errors are retried with exponential back-off
and jitter, honouring ``Retry-After``), ``backoff``/``backoff_max`` (first and longest wait in
seconds, default 0.5 and 30), ``stream`` (default false; when true the time to first token is
measured), ``prompt``, ``system`` (chat system message), ``shots_file``/``shots`` (few-shot
demonstrations, as for ``hf`` causal LMs), ``max_tokens``, ``temperature`` (default 0),
``top_p``, ``seed``, ``label_map``.

An answer that contains the API key's value has it replaced by ``***`` before anything is
parsed or stored (``meta.secret_scrubbed``; the record counts them in ``secrets_scrubbed``).
Requests run on an asyncio event loop per batch, so Ctrl-C cancels every request in flight at
once.

Per request the client-side latency (and time to first token when streaming), the number of
retries, generated tokens and whether generation hit ``max_tokens`` go into the example's
``meta``; the runner turns them into ``efficiency.request_latency_ms`` / ``ttft_ms``
percentiles.  The endpoint's weights are unknown, so the fingerprint covers the base URL,
the model name and the output-changing options only (``settings.fingerprint_note``).
"""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import json
import os
import random
import re
import time
from collections.abc import AsyncIterator, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Any, ClassVar, TypeVar

from evalsuite.errors import RunError, SpecError
from evalsuite.families import Family
from evalsuite.inputs import describe_size
from evalsuite.models.base import (
    OPTION_CONVERTERS,
    ModelAdapter,
    Output,
    non_negative_int,
    positive_int,
)
from evalsuite.models.registry import register
from evalsuite.models.shared import match_label
from evalsuite.prompts.answers import first_label, parse_answer_text, parse_similarity
from evalsuite.prompts.fewshot import ShotSource, shot_source
from evalsuite.prompts.templates import (
    build_prompt,
    stop_sequences,
    template_for,
    template_problem,
    text_sha,
    unknown_field_problem,
)
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
                               "backoff_max", "stream", "max_response_mb", "batch_size",
                               "device"})
RETRY_AFTER_MAX_S = 120.0
DEFAULT_MAX_RESPONSE_MB = 16.0
ERROR_BODY_BYTES = 64 << 10  # of an error answer, only the start is read (for its message)
SCRUBBED = "***"
_T = TypeVar("_T")
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


def run_coroutine(coro: Coroutine[Any, Any, _T]) -> _T:
    """Run ``coro`` on a fresh event loop (in a thread of its own when this thread already
    runs one, as in a notebook).  In the main thread Ctrl-C cancels it and raises
    ``KeyboardInterrupt``."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


@register
class HttpAdapter(ModelAdapter):
    """An OpenAI-compatible endpoint, prompted per family (see the module docstring)."""

    kind: ClassVar[str] = "http"
    families: ClassVar[frozenset[Family]] = frozenset(Family)
    extra_options: ClassVar[dict[str, Any]] = {
        "model": str, "api": _api, "api_key_env": str, "concurrency": positive_int,
        "timeout": _positive_float, "retries": non_negative_int, "backoff": _non_negative_float,
        "backoff_max": _non_negative_float, "stream": OPTION_CONVERTERS["bool"], "prompt": str,
        "max_response_mb": _positive_float,
        "system": str, "max_tokens": positive_int, "temperature": float, "top_p": float,
        "seed": int, "shots_file": str, "shots": positive_int,
    }
    default_batch_size: ClassVar[int] = 64

    def __init__(self, spec: Any) -> None:
        super().__init__(spec)
        where = f"model {spec.display_name}"
        base = spec.target.strip().rstrip("/")
        if re.match(r"^https?://[^/\s]*@", base):  # never echo it: the password is in there
            raise SpecError("the endpoint URL carries a user name or password, which would be "
                            "written to results, logs and exports; put the key in an "
                            "environment variable and name it with api_key_env=NAME",
                            where="http model")
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
        self.max_response = int(self.transport.get("max_response_mb", DEFAULT_MAX_RESPONSE_MB)
                                * (1 << 20))
        self.device = "remote"
        self._headers: dict[str, str] | None = None
        self._secret: str | None = None
        self._random = random.Random()
        self._shots: dict[str, ShotSource] = {}

    @property
    def where(self) -> str:
        return f"http model {self.spec.display_name}"

    # -- lifecycle ------------------------------------------------------------------------
    def load(self) -> None:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        env = self.transport.get("api_key_env")
        if env:
            key = os.environ.get(env.strip(), "").strip()
            if not key:
                raise SpecError(f"the environment variable {env} (option api_key_env) is not "
                                f"set or empty", where=f"model {self.spec.display_name}")
            self._secret = key
            headers["Authorization"] = f"Bearer {key}"
        self._headers = headers

    def close(self) -> None:
        self._headers = None  # connections live for one batch: nothing else is held

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
            out["system"] = str(self.options["system"])
            out["system_sha256"] = text_sha(self.options["system"])
        out.update(self.shots(card).settings())
        if self.api == "completions":
            out["stop"] = stop_sequences(card)
        return out

    def is_out_of_memory(self, exc: BaseException) -> bool:
        return False  # a server's memory trouble is not solved by smaller client batches

    # -- prediction -----------------------------------------------------------------------
    def predict_batch(self, card: TaskCard, examples: Sequence[dict]) -> list[Output | Any]:
        if self._headers is None:
            self.load()
        template = prompt_template(card, self.options)
        shots = self.shots(card)
        prompts = [render_prompt(template, card, ex, shots.choose(ex, card.family))
                   for ex in examples]
        return run_coroutine(self._predict_all(card, examples, prompts))

    async def _predict_all(self, card: TaskCard, examples: Sequence[dict],
                           prompts: list[str]) -> list[Output | Any]:
        """Every request of a batch, at most ``concurrency`` at once; the first failure (or
        a cancellation: Ctrl-C) cancels the others."""
        import httpx

        limits = httpx.Limits(max_connections=self.concurrency,
                              max_keepalive_connections=self.concurrency)
        async with httpx.AsyncClient(timeout=httpx.Timeout(self.timeout), limits=limits,
                                     headers=self._headers, follow_redirects=True) as client:
            gate = asyncio.Semaphore(self.concurrency)
            tasks = [asyncio.ensure_future(self._predict_one(client, gate, card, ex, prompt))
                     for ex, prompt in zip(examples, prompts, strict=True)]
            try:
                return list(await asyncio.gather(*tasks))
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)

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

    async def _predict_one(self, client: Any, gate: asyncio.Semaphore, card: TaskCard,
                           example: dict[str, Any], prompt: str) -> Output:
        body = self._body(card, example, prompt)
        where = f"{self.where}, example {example['id']}"
        attempt = 0
        while True:
            try:
                async with gate:
                    start = time.perf_counter()
                    text, info = await self._attempt(client, body, start)
                break
            except _Failure as failure:
                if not failure.retry or attempt >= self.retries:
                    tries = f" after {attempt + 1} attempts" if attempt else ""
                    raise RunError(self._redact(f"{where}: {failure}{tries} ({self.url})")
                                   ) from None
                delay = failure.wait_s if failure.wait_s is not None else self._backoff(attempt)
                attempt += 1
                await asyncio.sleep(delay)
        text, scrubbed = self._scrub(text)
        prediction, ok = parse_output(card, text, example, self.options.get("label_map"))
        meta: dict[str, Any] = {"answer": text, "latency_ms": info["latency_ms"],
                                "retries": attempt}
        if not ok:
            meta["parse_failed"] = True
        if scrubbed:
            meta["secret_scrubbed"] = True
        for key in ("ttft_ms", "generated_tokens", "hit_length_limit"):
            if info.get(key) is not None:
                meta[key] = info[key]
        return Output(prediction, meta=meta)

    def _backoff(self, attempt: int) -> float:
        """Exponential back-off with jitter: uniform in [½, 1] × base × 2^attempt, capped."""
        ceiling = min(self.backoff_max, self.backoff * (2 ** attempt))
        return ceiling * (0.5 + 0.5 * self._random.random())

    async def _attempt(self, client: Any, body: dict[str, Any], start: float
                       ) -> tuple[str, dict[str, Any]]:
        """One attempt within the ``timeout`` deadline (connect, send and the whole answer):
        the answer text and timing/usage figures, or a ``_Failure``."""
        import httpx

        try:
            return await asyncio.wait_for(self._exchange(client, body, start), self.timeout)
        except (asyncio.TimeoutError, httpx.TimeoutException):
            raise _Failure(f"timed out after {self.timeout:g} s",
                           retry=True) from None
        except httpx.TransportError as exc:
            raise _Failure(f"connection error ({type(exc).__name__}: "
                           f"{str(exc)[:120] or 'no detail'})", retry=True) from None

    async def _exchange(self, client: Any, body: dict[str, Any], start: float
                        ) -> tuple[str, dict[str, Any]]:
        async with client.stream("POST", self.url, json=body) as response:
            if response.status_code >= 400:
                raw = await self._read_body(response, ERROR_BODY_BYTES, truncate=True)
                self._raise_status(response, raw.decode("utf-8", "replace"))
            if self.stream:
                return await self._read_stream(response, start)
            raw = await self._read_body(response, self.max_response)
            latency = 1000 * (time.perf_counter() - start)
            return self._read_json(raw, latency)

    def _too_large(self) -> _Failure:
        return _Failure(f"the answer is larger than {describe_size(self.max_response)} "
                        f"(option max_response_mb)", retry=False)

    async def _read_body(self, response: Any, limit: int, *, truncate: bool = False) -> bytes:
        """The body, at most ``limit`` bytes: more is a ``_Failure`` (or cut, ``truncate``)."""
        declared = response.headers.get("content-length", "")
        if not truncate and declared.isdigit() and int(declared) > limit:
            raise self._too_large()
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > limit:
                if not truncate:
                    raise self._too_large()
                chunks.append(chunk[:len(chunk) - (size - limit)])
                break
            chunks.append(chunk)
        return b"".join(chunks)

    async def _lines(self, response: Any) -> AsyncIterator[str]:
        """The lines of a streamed answer, at most ``max_response`` bytes in all."""
        buffer = b""
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > self.max_response:
                raise self._too_large()
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                yield line.decode("utf-8", "replace")
        if buffer:
            yield buffer.decode("utf-8", "replace")

    def _raise_status(self, response: Any, text: str) -> None:
        status = response.status_code
        detail = _error_detail(text)
        message = f"HTTP {status} {response.reason_phrase or ''}".rstrip()
        message += f": {detail}" if detail else ""
        retry = status in RETRY_STATUSES or status >= 500
        raise _Failure(message, retry=retry,
                       wait_s=_retry_after(response.headers.get("retry-after")) if retry
                       else None)

    def _read_json(self, raw: bytes, latency_ms: float) -> tuple[str, dict[str, Any]]:
        start = raw[:80].decode("utf-8", "replace")
        try:
            data = json.loads(raw)
        except ValueError:
            raise _Failure(f"malformed response: not JSON (body starts {start!r})",
                           retry=False) from None
        choice = self._choice(data)
        key = ("message", "content") if self.api == "chat" else ("text",)
        value: Any = choice
        for part in key:
            value = value.get(part) if isinstance(value, dict) else None
        if not isinstance(value, str):
            raise _Failure(f"malformed response: no string at choices[0].{'.'.join(key)} "
                           f"(body starts {start!r})", retry=False)
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

    async def _read_stream(self, response: Any, start: float) -> tuple[str, dict[str, Any]]:
        """Server-sent events: ``data: {chunk}`` lines until ``data: [DONE]``."""
        pieces: list[str] = []
        ttft: float | None = None
        chunks = 0
        finish = None
        usage: dict[str, Any] = {}
        async for line in self._lines(response):
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
            if not isinstance(data, dict):
                raise _Failure(f"malformed stream event: not an object ({payload[:80]!r})",
                               retry=False)
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

    def _scrub(self, text: str) -> tuple[str, bool]:
        """``text`` with the API key's value replaced by ``***``, and whether it held it."""
        if self._secret and self._secret in text:
            return text.replace(self._secret, SCRUBBED), True
        return text, False

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
