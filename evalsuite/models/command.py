"""``cmd`` models: any command line that reads one input per line and writes one output per line.

The target is split like a shell would (``shlex``) and run without a shell, once per batch::

    cmd:apertium -u eng-spa                  # rule-based MT (Debian: apt-get install apertium)
    cmd:python my_classifier.py?jsonl=true&timeout=60

Inputs per family (newlines inside an input become spaces; fields joined by a tab):
translation ``source``, summarization ``document``, sentiment ``text``, similarity
``sentence1<TAB>sentence2``, qa ``question<TAB>context``, ner the tokens joined by spaces
(output: one tag per token, separated by spaces).  ``input_field=a,b`` picks other fields.

Options: ``timeout`` (seconds per batch, default 300), ``max_output_mb`` (the most a batch
may write on stdout, default 64: a command that writes more is stopped and the task fails
with that message), ``input_field``, ``jsonl`` (one JSON
object per line both ways: the example's id and input fields in; an object with a prediction
key — see :mod:`evalsuite.models.predictions` — or a bare JSON value out), ``separator``
(``line``, ``blank`` or ``auto``), ``label_map`` (model label → card label), ``lang_map``.

One system, one command per language: ``{source_lang}``, ``{target_lang}``, ``{language}``
and ``{pair}`` in the command line are replaced by the task card's languages, each through
``lang_map`` (card code → the program's name for it; ``{pair}`` looks up ``SRC-TGT`` first,
else joins the two mapped codes with ``-``).  So one model entry serves every language pair
of a suite, and its records share one name::

    cmd:apertium -u {pair}?lang_map=eng_Latn-cat_Latn=eng-cat,eng_Latn-glg_Latn=en-gl

``separator=blank`` writes an empty line between inputs and reads outputs separated by empty
lines.  ``auto`` (the default) picks it for ``apertium``: Apertium translates a text stream,
so with one input per line its transfer rules carry words across line ends (``leading
spaces`` / ``tab inside`` came back as ``Interior de`` / ``tabulador de espacios
principal``); an empty line is a paragraph break it never crosses.  In blank mode empty
inputs are not sent and get an empty output.

The command runs in a process group of its own; a timeout, too much output or Ctrl-C kills
the whole group, so nothing it started outlives the batch.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from evalsuite.errors import BackendUnavailable, RunError, SpecError
from evalsuite.families import FIELDS, Family
from evalsuite.inputs import describe_size
from evalsuite.models.base import OPTION_CONVERTERS, ModelAdapter, Output, files_fingerprint
from evalsuite.models.registry import register
from evalsuite.models.shared import match_label, parse_prediction, pick_prediction
from evalsuite.tasks.cards import TaskCard

DEFAULT_INPUT_FIELDS: dict[Family, tuple[str, ...]] = {
    Family.TRANSLATION: ("source",),
    Family.SUMMARIZATION: ("document",),
    Family.SENTIMENT: ("text",),
    Family.SIMILARITY: ("sentence1", "sentence2"),
    Family.QA: ("question", "context"),
    Family.NER: ("tokens",),
}
# Programs that need blank-line separated inputs under separator=auto (see module docstring).
BLANK_SEPARATED_PROGRAMS = frozenset({"apertium"})
_LINE_BREAKS = re.compile(r"[\r\n\v\f\x1c-\x1e\x85\u2028\u2029]+")
_BLANK_LINES = re.compile(r"\n(?:[ \t]*\n)+")
# apertium options that take a value (the direction is the first other argument)
_APERTIUM_VALUE_OPTIONS = frozenset({"-d", "-f", "-m", "-o"})
DEFAULT_MAX_OUTPUT_MB = 64.0
STDERR_KEPT = 64 << 10  # of stderr only the start is kept (for the error message)
_LANGUAGE_FIELD = re.compile(r"\{(source_lang|target_lang|language|pair)\}")


def _positive_float(value: Any) -> float:
    number = float(value)
    if number <= 0:
        raise ValueError("must be positive")
    return number


def _separator(value: Any) -> str:
    text = str(value).strip().lower()
    if text not in ("auto", "line", "blank"):
        raise ValueError("choose auto, line or blank")
    return text


def _fields(value: Any) -> tuple[str, ...]:
    fields = tuple(f.strip() for f in str(value).split(",") if f.strip())
    if not fields:
        raise ValueError("name at least one field")
    return fields


def one_line(value: Any) -> str:
    """An input value as one line: lists joined by spaces, line breaks and tabs → spaces."""
    if isinstance(value, (list, tuple)):
        value = " ".join(str(v) for v in value)
    return _LINE_BREAKS.sub(" ", "" if value is None else str(value)).replace("\t", " ")


@register
class CommandAdapter(ModelAdapter):
    """A command line reading one input per line on stdin, writing one output per line."""

    kind: ClassVar[str] = "cmd"
    families: ClassVar[frozenset[Family]] = frozenset(Family)
    extra_options: ClassVar[dict[str, Any]] = {
        "timeout": _positive_float,
        "max_output_mb": _positive_float,
        "input_field": _fields,
        "jsonl": OPTION_CONVERTERS["bool"],
        "separator": _separator,
        "lang_map": OPTION_CONVERTERS["mapping"],
    }
    default_batch_size: ClassVar[int] = 64

    def __init__(self, spec: Any) -> None:
        super().__init__(spec)
        self._where = f"model {spec.display_name}"
        try:
            self.argv = shlex.split(spec.target)
        except ValueError as exc:
            raise SpecError(f"cannot split the command line: {exc}", where=self._where) from None
        if not self.argv:
            raise SpecError("the command line is empty", where=self._where)
        self.program = Path(self.argv[0]).name
        self.executable: str | None = None
        self.templated = bool(_LANGUAGE_FIELD.search(spec.target))
        self._checked_pairs: set[str] = set()

    # -- options --------------------------------------------------------------------------
    @property
    def timeout(self) -> float:
        return float(self.options.get("timeout", 300.0))

    @property
    def max_output(self) -> int:
        return int(float(self.options.get("max_output_mb", DEFAULT_MAX_OUTPUT_MB)) * (1 << 20))

    @property
    def jsonl(self) -> bool:
        return bool(self.options.get("jsonl", False))

    @property
    def separator(self) -> str:
        sep = self.options.get("separator", "auto")
        if self.jsonl:
            return "line"
        if sep == "auto":
            return "blank" if self.program in BLANK_SEPARATED_PROGRAMS else "line"
        return sep

    def argv_for(self, card: TaskCard) -> list[str]:
        """The command line for ``card``, with its language fields filled in."""
        if not self.templated:
            return self.argv
        lang_map = self.options.get("lang_map") or {}
        codes = {"source_lang": card.source_lang, "target_lang": card.target_lang,
                 "language": card.language}
        values = {k: lang_map.get(v, v) for k, v in codes.items() if v is not None}
        if card.source_lang and card.target_lang:
            values["pair"] = lang_map.get(f"{card.source_lang}-{card.target_lang}",
                                          f"{values['source_lang']}-{values['target_lang']}")

        def fill(match: re.Match[str]) -> str:
            return values[match.group(1)]

        return [_LANGUAGE_FIELD.sub(fill, arg) for arg in self.argv]

    def unsupported_reason(self, card: TaskCard) -> str | None:
        reason = super().unsupported_reason(card)
        if reason is None and self.templated:
            needed = set(_LANGUAGE_FIELD.findall(self.spec.target))
            have = {"source_lang": card.source_lang, "target_lang": card.target_lang,
                    "language": card.language,
                    "pair": card.source_lang and card.target_lang}
            missing = sorted(n for n in needed if not have[n])
            if missing:
                return (f"the command line needs {{{missing[0]}}}, which task {card.name} does "
                        "not name")
        return reason

    def input_fields(self, card: TaskCard) -> tuple[str, ...]:
        return self.options.get("input_field") or DEFAULT_INPUT_FIELDS[card.family]

    # -- lifecycle ------------------------------------------------------------------------
    def load(self) -> None:
        program = self.argv[0]
        found = shutil.which(program)
        if found is None:
            hint = (" (Debian/Ubuntu: apt-get install apertium apertium-eng-spa)"
                    if self.program == "apertium" else " (install it or give its full path)")
            raise BackendUnavailable(f"command {program!r} not found on PATH{hint}")
        self.executable = found
        if self.program == "apertium" and not self.templated:
            self._check_apertium_pair(self.argv)

    def start_task(self, card: TaskCard) -> None:
        argv = self.argv_for(card)
        if self.program == "apertium" and self.templated and " ".join(argv) not in \
                self._checked_pairs:
            self._check_apertium_pair(argv)
            self._checked_pairs.add(" ".join(argv))

    def _check_apertium_pair(self, argv: list[str]) -> None:
        args = argv[1:]
        direction, prefix, i = None, [], 0
        while i < len(args):
            if args[i] in _APERTIUM_VALUE_OPTIONS and i + 1 < len(args):
                if args[i] == "-d":
                    prefix = ["-d", args[i + 1]]
                i += 2
                continue
            if not args[i].startswith("-"):
                direction = args[i]
                break
            i += 1
        if direction is None:
            raise SpecError("apertium needs a translation direction, e.g. "
                            "'cmd:apertium -u eng-spa'", where=self._where)
        try:
            listed = subprocess.run([self.argv[0], *prefix, "-l"], capture_output=True,
                                    text=True, timeout=30).stdout.split()
        except (OSError, subprocess.SubprocessError):
            return  # let the run itself report the problem
        if listed and direction not in listed:
            hint = ("map the task's languages to an installed pair with lang_map"
                    if self.templated else f"e.g. apt-get install apertium-{direction}")
            raise BackendUnavailable(f"apertium has no {direction} language pair installed "
                                     f"({hint}; installed: {', '.join(listed)})")

    # -- prediction -----------------------------------------------------------------------
    def predict_batch(self, card: TaskCard, examples: Sequence[dict]) -> list[Output | Any]:
        if self.executable is None:
            self.load()
        out: list[Output | Any] = []
        size = self.batch_size
        for start in range(0, len(examples), size):
            out.extend(self._predict_chunk(card, examples[start:start + size]))
        return out

    def _predict_chunk(self, card: TaskCard, examples: Sequence[dict]) -> list[Output | Any]:
        if not examples:
            return []
        if self.jsonl:
            lines = [self._json_input(card, ex) for ex in examples]
        else:
            fields = self.input_fields(card)
            try:
                lines = ["\t".join(one_line(ex[f]) for f in fields) for ex in examples]
            except KeyError as exc:
                raise SpecError(f"input_field {exc.args[0]!r} is not a field of "
                                f"{card.family.value} examples", where=self._where) from None
        raw = self._exchange(lines, self.argv_for(card))
        label_map = self.options.get("label_map")
        outputs: list[Output | Any] = []
        for n, (ex, text) in enumerate(zip(examples, raw, strict=True), 1):
            value, scores = self._decode(text, n) if self.jsonl else (text.strip(), None)
            try:
                prediction = parse_prediction(card, value, ex, label_map)
                if scores:
                    scores = {match_label(card, k, label_map): float(v)
                              for k, v in scores.items()}
            except ValueError as exc:
                raise RunError(f"command {self.program!r}, output line {n} of the batch "
                               f"(id {ex.get('id')!r}): {exc}") from None
            outputs.append(Output(prediction, scores=scores) if scores else prediction)
        return outputs

    def _json_input(self, card: TaskCard, example: dict) -> str:
        fields = self.options.get("input_field") or (
            FIELDS[card.family].inputs
            + tuple(f for f in ("source_lang", "target_lang") if f in example))
        record = {"id": example.get("id"), **{f: example.get(f) for f in fields}}
        return json.dumps(record, ensure_ascii=False, default=str)

    def _decode(self, line: str, n: int) -> tuple[Any, dict | None]:
        try:
            value = json.loads(line)
        except json.JSONDecodeError:
            raise RunError(f"command {self.program!r}: output line {n} is not JSON "
                           f"(jsonl=true): {line[:80]!r}") from None
        if not isinstance(value, dict):
            return value, None
        try:
            prediction = pick_prediction(value)
        except KeyError as exc:
            raise RunError(f"command {self.program!r}: output line {n} has no prediction key "
                           f"({exc.args[0]})") from None
        scores = value.get("scores")
        return prediction, scores if isinstance(scores, dict) else None

    def _exchange(self, lines: list[str], argv: list[str]) -> list[str]:
        """Run the command once on ``lines``; one output per input (checked)."""
        if self.separator == "blank":
            sent = [i for i, line in enumerate(lines) if line.strip()]
            results = [""] * len(lines)
            if sent:
                stdout = self._run("\n\n".join(lines[i] for i in sent) + "\n", argv)
                body = stdout.replace("\r\n", "\n").strip("\n")
                parts = _BLANK_LINES.split(body) if body else []
                self._check_count(len(parts), len(sent), "blank-line separated outputs")
                for i, part in zip(sent, parts, strict=True):
                    results[i] = part.replace("\n", " ")
            return results
        stdout = self._run("".join(line + "\n" for line in lines), argv)
        got = stdout.split("\n")
        if stdout.endswith("\n"):
            got.pop()
        if stdout == "":
            got = []
        self._check_count(len(got), len(lines), "output lines")
        return [line.rstrip("\r") for line in got]

    def _check_count(self, got: int, expected: int, what: str) -> None:
        if got != expected:
            raise RunError(f"command {self.program!r} wrote {got} {what} for {expected} inputs "
                           f"(it must write exactly one output per input line)")

    def _run(self, payload: str, command: list[str]) -> str:
        argv = [self.executable or command[0], *command[1:]]
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, start_new_session=True)
        except FileNotFoundError:
            raise BackendUnavailable(f"command {self.argv[0]!r} not found") from None
        except PermissionError:
            raise BackendUnavailable(f"command {self.argv[0]!r} is not executable") from None
        try:
            stdout, stderr, problem = _exchange(proc, payload.encode("utf-8"), self.timeout,
                                                self.max_output)
        except BaseException:  # Ctrl-C, SIGTERM: never leave the command running
            _kill(proc)
            raise
        if problem == "timeout":
            raise RunError(f"command {self.program!r} timed out after {self.timeout:g} s on a "
                           f"batch (raise the timeout option or lower batch_size)")
        if problem == "too_much":
            raise RunError(f"command {self.program!r} wrote more than "
                           f"{describe_size(self.max_output)} for one batch and was stopped "
                           f"(option max_output_mb)")
        if proc.returncode != 0:
            lines = [ln.strip() for ln in stderr.decode("utf-8", "replace").splitlines()]
            first = next((ln for ln in lines if ln), "no message on stderr")
            raise RunError(f"command {self.program!r} exited with code {proc.returncode}: "
                           f"{first}")
        return stdout.decode("utf-8", "replace")

    # -- identity -------------------------------------------------------------------------
    def fingerprint(self) -> str:
        """Hash of the command line, the program file and any files named on the line."""
        files = {Path(p) for p in (shutil.which(self.argv[0]),) if p}
        files |= {Path(a) for a in self.argv[1:] if not a.startswith("-") and Path(a).is_file()}
        base = super().fingerprint()
        return files_fingerprint(sorted(files)) + base[:8] if files else base


def _exchange(proc: subprocess.Popen, data: bytes, timeout: float, limit: int
              ) -> tuple[bytes, bytes, str | None]:
    """Send ``data`` to the command and read its output, at most ``limit`` bytes of stdout
    and :data:`STDERR_KEPT` of stderr (the rest is drained), within ``timeout`` seconds.
    Returns (stdout, stderr, problem) with problem ``"timeout"``, ``"too_much"`` (the process
    group was killed) or ``None``.  What ``communicate`` does, with the caps it lacks."""
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    stdin, stdout, stderr_pipe = proc.stdin, proc.stdout, proc.stderr
    stderr: list[bytes] = []

    def feed() -> None:
        with contextlib.suppress(OSError):  # a command that stops reading: its own error
            stdin.write(data)
        with contextlib.suppress(OSError):
            stdin.close()

    def drain_stderr() -> None:
        kept = 0
        for block in iter(lambda: stderr_pipe.read1(1 << 16), b""):
            if kept < STDERR_KEPT:
                stderr.append(block[:STDERR_KEPT - kept])
                kept += len(stderr[-1])

    timed_out = threading.Event()

    def expire() -> None:
        timed_out.set()
        _kill(proc, wait=False)

    helpers = [threading.Thread(target=feed, daemon=True),
               threading.Thread(target=drain_stderr, daemon=True)]
    for helper in helpers:
        helper.start()
    timer = threading.Timer(timeout, expire)
    timer.daemon = True
    timer.start()
    out: list[bytes] = []
    size = 0
    problem: str | None = None
    try:
        for block in iter(lambda: stdout.read1(1 << 16), b""):
            size += len(block)
            if size > limit:
                problem = "too_much"
                _kill(proc, wait=False)
                break
            out.append(block)
        proc.wait()
    finally:
        timer.cancel()
    for helper in helpers:
        helper.join(timeout=5)
    for pipe in (stdout, stderr_pipe):
        with contextlib.suppress(OSError):
            pipe.close()
    if timed_out.is_set() and problem is None:
        problem = "timeout"
    return b"".join(out), b"".join(stderr), problem


def _kill(proc: subprocess.Popen, *, wait: bool = True) -> None:
    """Kill the command and anything it started (its own process group)."""
    try:
        if hasattr(os, "killpg"):
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            proc.kill()
    except (ProcessLookupError, PermissionError):
        pass
    if wait:
        with contextlib.suppress(subprocess.TimeoutExpired, ValueError, OSError):
            proc.wait(timeout=5)
        for pipe in (proc.stdin, proc.stdout, proc.stderr):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()
