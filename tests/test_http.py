"""``http`` models against a local OpenAI-compatible stub: every family, retries, timeouts,
malformed answers, the API key kept out of every file and message."""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from pathlib import Path

import pytest

from evalsuite.cli.app import main
from evalsuite.errors import SpecError
from evalsuite.families import Family
from evalsuite.models.http import HttpAdapter, _retry_after, parse_ner_answer, parse_output
from evalsuite.models.spec import parse_spec
from evalsuite.results.files import load_results
from evalsuite.runner.run import Job, RunConfig, run
from evalsuite.tasks.registry import TaskRegistry
from tests.openai_stub_server import StubServer

FAMILY_TASKS = ["sentiment/starter", "qa/starter", "translation/starter-en-de",
                "summarization/starter", "similarity/starter", "ner/starter"]
REGISTRY = TaskRegistry.discover([])


@pytest.fixture(scope="module")
def server():
    with StubServer(max_requests=5000, lifetime_s=300) as stub:
        yield stub


@pytest.fixture
def stub(server, monkeypatch):
    for name in ("NO_PROXY", "no_proxy"):  # a proxy in the environment must not get these
        monkeypatch.setenv(name, "127.0.0.1,localhost")
    server.reset()
    return server


def http_spec(stub: StubServer, options: str = "", name: str = "stub") -> str:
    extra = f"&{options}" if options else ""
    return f"http:{stub.url}?model=stub-model&name={name}&backoff=0.01{extra}"


def run_http(tmp_path: Path, specs: list[str], tasks: list[str], *, limit: int = 10,
             cache: bool = False):
    cards = REGISTRY.select(tasks)
    config = RunConfig(jobs=[Job(parse_spec(s), cards) for s in specs],
                       output_dir=tmp_path / "results", resamples=100, limit=limit,
                       cache_path=tmp_path / "cache.sqlite" if cache else None)
    return run(config)


def prediction_ids(outcome, record) -> list[str]:
    return [row["id"] for row in load_results(outcome.run_dir).predictions(record)]


# -- end to end --------------------------------------------------------------------------------
def test_every_family_end_to_end_chat_completions_and_streaming(tmp_path, stub):
    specs = [http_spec(stub, "api=chat", "chat"), http_spec(stub, "api=completions", "compl"),
             http_spec(stub, "api=chat&stream=true&concurrency=3", "chat-stream")]
    outcome = run_http(tmp_path, specs, FAMILY_TASKS, limit=10)
    load_results(outcome.run_dir)  # valid against the JSON Schema
    records = {r.key: r for r in outcome.records}
    assert len(records) == 18 and all(r.status == "ok" for r in records.values()), \
        [r.reason for r in records.values() if r.status != "ok"]
    for (model, _task), rec in records.items():
        assert rec.n_examples == 10
        ids = prediction_ids(outcome, rec)
        assert len(ids) == len(set(ids)) == 10
        eff = rec.efficiency
        assert eff.examples_per_s > 0 and eff.retries == 0
        assert 0 < eff.request_latency_ms.p50 <= eff.request_latency_ms.p99
        assert ("ttft_ms" in eff.model_fields_set) == (model == "chat-stream")
        assert eff.generated_tokens > 0
        assert rec.settings["fingerprint_note"].startswith("remote endpoint")
        assert rec.settings["prompt_sha256"]
    # the parser reads "The sentiment is positive." (chat), " positive" (completions) and a
    # streamed answer alike: metrics are identical across the three ways of asking
    for task in FAMILY_TASKS:
        metrics = [records[(m, task)].metrics for m in ("chat", "compl", "chat-stream")]
        assert metrics[0] == metrics[1] == metrics[2], task
    for task in ("sentiment/starter", "similarity/starter", "ner/starter"):
        rows = load_results(outcome.run_dir).predictions(records[("chat", task)])
        assert not any(row.get("meta", {}).get("parse_failed") for row in rows), task
    # streaming and concurrency are transport, not identity; the API is identity
    fp = {m: records[(m, "qa/starter")].model_identity.fingerprint
          for m in ("chat", "compl", "chat-stream")}
    assert fp["chat"] == fp["chat-stream"] != fp["compl"]
    assert stub.stats.requests == 180 and stub.stats.statuses == Counter({200: 180})
    assert stub.stats.models == {"stub-model"}
    completions = [b for b in stub.stats.bodies if "prompt" in b]
    assert len(completions) == 60 and all(b["stop"] for b in completions)
    assert sum(bool(b.get("stream")) for b in stub.stats.bodies) == 60


def test_cache_answers_a_second_run_without_requests(tmp_path, stub):
    first = run_http(tmp_path, [http_spec(stub)], ["sentiment/starter"], cache=True)
    n = stub.stats.requests
    second = run_http(tmp_path, [http_spec(stub, "concurrency=2&timeout=9")],
                      ["sentiment/starter"], cache=True)  # transport options: same key
    assert n == 10 and stub.stats.requests == n
    assert second.records[0].cache.to_dict() == {"hits": 10, "computed": 0}
    assert second.records[0].metrics == first.records[0].metrics


def test_concurrency_limit_is_respected(tmp_path, stub):
    stub.behaviour.delay_s = 0.05
    outcome = run_http(tmp_path, [http_spec(stub, "concurrency=3")], ["sentiment/starter"],
                       limit=12)
    assert outcome.records[0].status == "ok"
    assert 2 <= stub.stats.max_in_flight <= 3


# -- retries, timeouts, malformed answers --------------------------------------------------------
@pytest.mark.parametrize(("status", "retry_after"), [(429, None), (503, "0")])
def test_storm_of_429_or_503_recovers_with_backoff(tmp_path, stub, status, retry_after):
    stub.behaviour.status = status
    stub.behaviour.status_first_attempts = 2
    stub.behaviour.retry_after = retry_after
    outcome = run_http(tmp_path, [http_spec(stub, "retries=3&concurrency=4")],
                       ["sentiment/starter", "similarity/starter"], limit=16)
    assert all(r.status == "ok" for r in outcome.records)
    for rec in outcome.records:
        assert rec.efficiency.retries == 32  # two per example, counted client-side
        ids = prediction_ids(outcome, rec)
        assert len(ids) == len(set(ids)) == 16  # nothing lost, nothing twice
    assert stub.stats.statuses == Counter({status: 64, 200: 32})
    assert set(stub.stats.answered.values()) == {1}  # every prompt answered exactly once


def test_retry_after_is_honoured(tmp_path, stub):
    stub.behaviour.status_first_attempts = 1
    stub.behaviour.retry_after = "1"
    start = time.perf_counter()
    outcome = run_http(tmp_path, [http_spec(stub, "backoff=0.001")], ["sentiment/starter"],
                       limit=4)
    assert outcome.records[0].status == "ok"
    assert time.perf_counter() - start >= 1.0  # waited as told, not 1 ms
    assert outcome.records[0].efficiency.request_latency_ms.p50 < 900


def test_retry_after_header_forms():
    assert _retry_after("2") == 2.0 and _retry_after(None) is None
    assert _retry_after("86400") == 120.0  # capped
    assert _retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # a date in the past
    assert _retry_after("soon") is None


def test_timeouts_fail_clearly_after_bounded_retries(tmp_path, stub):
    stub.behaviour.delay_s = 1.0
    start = time.perf_counter()
    outcome = run_http(tmp_path, [http_spec(stub, "timeout=0.2&retries=2&concurrency=2")],
                       ["sentiment/starter"], limit=4)
    elapsed = time.perf_counter() - start
    (record,) = outcome.records
    assert record.status == "failed"
    reason = record.reason
    assert "http model stub, example " in reason and "\n" not in reason
    assert "timed out after 0.2 s after 3 attempts" in reason and stub.url in reason
    assert max(stub.stats.attempts.values()) <= 3 and stub.stats.requests <= 12
    assert elapsed < 6


def test_a_slow_first_attempt_is_retried_and_recovers(tmp_path, stub):
    stub.behaviour.delay_s = 1.0
    stub.behaviour.delay_first_attempts = 1
    outcome = run_http(tmp_path, [http_spec(stub, "timeout=0.3&retries=2")],
                       ["qa/starter"], limit=6)
    (record,) = outcome.records
    assert record.status == "ok" and record.efficiency.retries == 6
    ids = prediction_ids(outcome, record)
    assert len(ids) == len(set(ids)) == 6


@pytest.mark.parametrize(("mode", "options", "expected"), [
    ("not_json", "", "malformed response: not JSON"),
    ("no_choices", "", "malformed response: no choices[0]"),
    ("no_content", "", "malformed response: no string at choices[0].message.content"),
    ("bad_stream", "stream=true", "malformed stream event: not JSON"),
])
def test_malformed_responses_fail_with_a_clear_error(tmp_path, stub, mode, options, expected):
    stub.behaviour.malformed = mode
    outcome = run_http(tmp_path, [http_spec(stub, options)], ["sentiment/starter"], limit=4)
    (record,) = outcome.records
    assert record.status == "failed"
    assert expected in record.reason and "http model stub, example " in record.reason
    assert set(stub.stats.attempts.values()) == {1}  # a malformed answer is not retried


# -- the API key ---------------------------------------------------------------------------------
def test_api_key_is_sent_but_never_written_or_shown(tmp_path, stub, monkeypatch, capsys,
                                                    caplog):
    key = "sk-evalsuite-test-5f0c9a1e77d24b6b"
    monkeypatch.setenv("STUB_API_KEY", key)
    caplog.set_level(logging.DEBUG)
    model = http_spec(stub, "api_key_env=STUB_API_KEY", "keyed")
    base = ["run", "-m", model, "-t", "sentiment/starter", "-t", "ner/starter", "--limit", "5",
            "-o", str(tmp_path / "results"), "--cache", str(tmp_path / "cache.sqlite")]
    assert main([*base, "--run-id", "ok"]) == 0
    assert stub.stats.auth_headers == {f"Bearer {key}"}
    # a server that echoes the credentials in its error: the message is redacted
    stub.behaviour.echo_auth_status = 401
    assert main([*base, "--run-id", "echo", "--no-cache"]) == 1
    captured = capsys.readouterr()
    shown = captured.out + captured.err + caplog.text
    assert "HTTP 401" in shown and "***" in shown
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name == "results.json" for p in files) and any(".sqlite" in p.name for p in files)
    for path in files:
        assert key.encode() not in path.read_bytes(), path
    assert key not in shown
    failed = json.loads((tmp_path / "results" / "echo" / "results.json").read_text())
    assert "***" in failed["records"][0]["reason"]


def test_missing_api_key_variable_is_a_usage_error(tmp_path, stub, monkeypatch, capsys):
    monkeypatch.delenv("STUB_NO_SUCH_KEY", raising=False)
    code = main(["run", "-m", http_spec(stub, "api_key_env=STUB_NO_SUCH_KEY"), "-t",
                 "sentiment/starter", "--limit", "2", "--no-cache", "-o", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and "STUB_NO_SUCH_KEY" in err and "Traceback" not in err
    assert stub.stats.requests == 0


# -- specs and parsing -----------------------------------------------------------------------------
@pytest.mark.parametrize(("spec", "message"), [
    ("http:http://127.0.0.1:1/v1", "need model=NAME"),
    ("http:localhost:8000?model=m", "base URL"),
    ("http:http://127.0.0.1:1/v1?model=m&api=rest", "choose chat or completions"),
    ("http:http://127.0.0.1:1/v1?model=m&api_key_env=sk-abc123", "NAME of an environment"),
])
def test_spec_errors(spec, message):
    with pytest.raises(SpecError, match="model http") as info:
        HttpAdapter(parse_spec(spec))
    assert message in str(info.value) and "sk-abc123" not in str(info.value)


def test_fingerprint_covers_endpoint_and_model_not_transport():
    def fp(options: str) -> str:
        return HttpAdapter(parse_spec(f"http:http://h:1/v1?model=m{options}")).fingerprint()

    base = fp("")
    assert base == fp("&concurrency=2&timeout=5&retries=1&stream=true&api_key_env=K")
    assert base != fp("&temperature=0.7") and base != fp("&api=completions")
    assert base != HttpAdapter(parse_spec("http:http://h:1/v1?model=m2")).fingerprint()
    full_url = HttpAdapter(parse_spec("http:http://h:1/v1/chat/completions?model=m"))
    assert full_url.url == "http://h:1/v1/chat/completions" and full_url.fingerprint() == base


def test_answer_parsing_per_family():
    sentiment, qa, sim, ner, tr = (REGISTRY.select([t])[0] for t in (
        "sentiment/starter", "qa/starter", "similarity/starter", "ner/starter",
        "translation/starter-en-de"))
    assert parse_output(sentiment, "I think it is Positive overall.", {}) == ("positive", True)
    assert parse_output(sentiment, "pos", {}, {"pos": "positive"}) == ("positive", True)
    assert parse_output(sentiment, "no idea", {}) == ("", False)
    assert parse_output(qa, " Unanswerable.", {}) == ("", True)
    assert parse_output(qa, "Paris\nQuestion: more", {}) == ("Paris", True)
    assert parse_output(sim, "Score: 7.5", {}) == (5.0, True)  # clipped to the range
    assert parse_output(sim, "similar", {}) == (0.0, False)
    assert parse_output(tr, " Hallo Welt\nEnglish: next", {"source": "Hello world"}) == (
        "Hallo Welt", True)
    tokens = ["John", "lives", "in", "Paris"]
    assert parse_output(ner, "B-PER O O B-LOC", {"tokens": tokens}) == (
        ["B-PER", "O", "O", "B-LOC"], True)
    tags = ner.tag_names or ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    assert parse_ner_answer("John B-PER\nlives O\nin O\nParis b-loc", tokens, tags) == (
        ["B-PER", "O", "O", "B-LOC"], True)
    assert parse_ner_answer("[B-PER, O, O, B-DATE]", tokens, tags) == (
        ["B-PER", "O", "O", "O"], True)  # a tag outside the card's set → O
    assert parse_ner_answer("B-PER O", tokens, tags) == (["B-PER", "O", "O", "O"], False)
    assert Family.NER in HttpAdapter.families and len(HttpAdapter.families) == 6
