"""The command line: exit codes, one-line errors, the tasks listing, packaging of cards."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import zipfile

import pytest

from evalsuite.cli.app import main
from evalsuite.tasks.registry import TaskRegistry
from tests.conftest import REPO, write_jsonl


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:"), err
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in err
    return err


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["run", "-m", "nosuchkind:x", "-t", "sentiment/starter"], "unknown model kind"),
        (["run", "-m", "baseline:vader", "-t", "sentiment/nope"], "unknown task"),
        (["run", "-m", "baseline:vader"], "--task"),
        (["run", "-m", "baseline:vader?colour=red", "-t", "sentiment/starter"],
         "take no option 'colour'"),
        (["run", "-m", "baseline:vader", "-t", "ner/starter"], "not ner"),
        (["run", "-m", "baseline:vader", "-t", "sentiment/starter", "--limit", "0"],
         "--limit"),
        (["run", "no-such-batch.yaml"], "no such batch file"),
        (["tasks", "--family", "poetry"], "unknown family"),
        (["tasks", "--tasks-dir", "/no/such/dir"], "--tasks-dir"),
    ],
)
def test_bad_input_exits_2_with_one_line(capsys, tmp_path, argv, fragment):
    assert main([*argv, "-o", str(tmp_path)] if argv[0] == "run" and "-m" in argv
                else argv) == 2
    assert fragment in one_line_error(capsys)
    assert not list(tmp_path.iterdir())  # nothing was started


def test_unknown_flag_exits_2(capsys):
    assert main(["run", "--colour", "red"]) == 2


def test_wrong_card_in_tasks_dir(capsys, tmp_path):
    (tmp_path / "bad.yaml").write_text("name: x/y\nfamily: sentiment\n"
                                       "dataset: {path: d.jsonl}\nmetrics: [bleu]\n"
                                       "labels: [a, b]\n")
    assert main(["tasks", "--tasks-dir", str(tmp_path)]) == 2
    err = one_line_error(capsys)
    assert "bad.yaml: field 'metrics': unknown metric 'bleu'" in err


def test_run_writes_results_and_prints_table(capsys, tmp_path):
    code = main(["run", "-m", "baseline:vader?name=vader", "-t", "sentiment/starter",
                 "-o", str(tmp_path), "--run-id", "r1", "--limit", "20"])
    assert code == 0
    out = capsys.readouterr().out
    assert "vader" in out and "accuracy" in out
    doc = json.loads((tmp_path / "r1" / "results.json").read_text())
    assert doc["records"][0]["n_examples"] == 20
    assert main(["run", "-m", "baseline:vader", "-t", "sentiment/starter", "-o",
                 str(tmp_path), "--run-id", "r1"]) == 2  # never overwrite a run
    assert "--resume" in one_line_error(capsys)


def test_batch_file_errors_name_the_entry(capsys, tmp_path):
    batch = tmp_path / "b.yaml"
    batch.write_text("models:\n  - kind: baseline\n    tasks: [sentiment/starter]\n")
    assert main(["run", str(batch)]) == 2
    assert "models[0]" in one_line_error(capsys)
    batch.write_text("modles: []\n")
    assert main(["run", str(batch)]) == 2
    assert "unknown field 'modles'" in one_line_error(capsys)


def test_failed_task_exits_1_and_keeps_results(capsys, tmp_path):
    write_jsonl(tmp_path / "t" / "d.jsonl", [{"text": "fine", "label": "positive"}])
    (tmp_path / "t" / "c.yaml").write_text(textwrap.dedent("""
        name: t/x
        family: sentiment
        dataset: {path: d.jsonl}
        labels: [negative, positive]
        metrics: [accuracy]
    """))
    code = main(["run", "-m", f"cmd:{sys.executable} -c 'import sys; sys.exit(3)'", "-t", "t/x",
                 "-t", "sentiment/starter", "-m", "baseline:vader",
                 "--tasks-dir", str(tmp_path / "t"), "-o", str(tmp_path / "r"), "--limit", "5"])
    assert code == 1
    (run_dir,) = (tmp_path / "r").iterdir()
    records = json.loads((run_dir / "results.json").read_text())["records"]
    statuses = {(r["model"].split(":")[0], r["task"]): r["status"] for r in records}
    assert statuses[("baseline", "sentiment/starter")] == "ok"
    assert statuses[("cmd", "t/x")] == "failed"


def test_tasks_lists_every_card(capsys):
    assert main(["tasks"]) == 0
    out = capsys.readouterr().out
    for name in TaskRegistry.discover().names():
        assert name in out
    assert "nyu-mll/glue [sst2]" in out  # brackets are printed, not eaten as markup


def test_entry_point_plugin_cards(tmp_path, monkeypatch):
    pkg = tmp_path / "myplugin"
    (pkg / "cards").mkdir(parents=True)
    (pkg / "__init__.py").write_text("from pathlib import Path\n"
                                     "CARDS = Path(__file__).parent / 'cards'\n")
    (pkg / "cards" / "c.yaml").write_text(
        "name: plugin/sent\nfamily: sentiment\ndataset: {path: d.jsonl}\n"
        "labels: [a, b]\nmetrics: [accuracy]\n")
    info = tmp_path / "myplugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: myplugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[evalsuite.tasks]\nmine = myplugin:CARDS\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "plugin/sent" in TaskRegistry.discover().names()


@pytest.mark.slow
def test_wheel_ships_the_task_tree(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                    "-q", "-w", str(tmp_path), str(REPO)], check=True, timeout=300)
    (wheel,) = tmp_path.glob("evalsuite-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for family in ("translation", "summarization", "sentiment", "ner", "qa", "similarity"):
        assert any(n.startswith(f"evalsuite/_builtin_tasks/{family}/") and
                   n.endswith(".yaml") for n in names), family
    assert "evalsuite/_builtin_tasks/qa/data/starter_qa.jsonl" in names
    assert "evalsuite/results/schema/results.schema.json" in names


def test_data_error_leaves_no_run_folder(capsys, tmp_path):
    write_jsonl(tmp_path / "t" / "d.jsonl", [{"review": "fine", "label": "positive"}])
    (tmp_path / "t" / "c.yaml").write_text(
        "name: t/x\nfamily: sentiment\ndataset: {path: d.jsonl}\n"
        "labels: [negative, positive]\nmetrics: [accuracy]\n")
    code = main(["run", "-m", "baseline:vader", "-t", "t/x", "--tasks-dir",
                 str(tmp_path / "t"), "-o", str(tmp_path / "r")])
    assert code == 2
    assert "field 'columns.text': column 'text' is not in the dataset" in one_line_error(capsys)
    assert not (tmp_path / "r").exists()


# -- terminal output -----------------------------------------------------------------------------
QUICKSTART_ROWS = [  # (model, task, metric, value, low, high, scale, n, examples/s)
    ("minilm", "similarity/starter", "spearman", 0.804, 0.682, 0.882, "-1-1", 72, 185.0),
    ("spacy-sm", "ner/starter", "f1", 0.739, 0.667, 0.806, "0-1", 70, 291.0),
    ("vader", "sentiment/starter", "accuracy", 0.725, 0.625, 0.812, "0-1", 80, 24100.0),
    ("minilm-retrieval", "qa/starter", "f1", 26.8, 22.3, 31.7, "0-100", 66, 46.3),
    ("apertium", "translation/starter-en-es", "bleu", 29.9, 25.5, 34.4, "0-100", 72, 123.0),
    ("hf:distilbert-base-uncased-finetuned-sst-2-english", "sentiment/sst2", "accuracy",
     0.91, 0.89, 0.93, "0-1", 872, 1520.0),
]


def _records(rows=QUICKSTART_ROWS) -> list:
    from evalsuite.results.records import Record

    return [Record.model_validate(
        {"model": m, "task": t, "family": t.split("/")[0], "status": "ok",
         "primary_metric": metric, "n_examples": n, "efficiency": {"examples_per_s": speed},
         "metrics": {metric: {"value": v, "ci_low": lo, "ci_high": hi, "scale": scale}}})
        for m, t, metric, v, lo, hi, scale, n, speed in rows]


def test_summary_table_keeps_its_figures_at_80_columns():
    """At 80 columns names fold; the interval, n and ex/s columns stay whole."""
    import io

    from rich.console import Console

    from evalsuite.cli.console import format_metric, summary_table
    from evalsuite.results.records import Record

    records = _records()
    records.append(Record.model_validate(
        {"model": "broken", "task": "ner/starter", "family": "ner", "status": "failed",
         "reason": "RuntimeError: " + "a very long reason " * 8, "n_examples": 0,
         "primary_metric": "f1", "metrics": {}}))
    buf = io.StringIO()
    Console(file=buf, width=80, color_system=None).print(summary_table(records))
    lines = buf.getvalue().splitlines()
    assert max(map(len, lines)) <= 80
    assert lines[0].split("┃")[4].strip() == "n"
    for rec in records[:-1]:
        metric = rec.metrics[rec.primary_metric]
        row = next(line for line in lines if format_metric(metric) in line)
        cells = [c.strip() for c in row.split("│")]
        assert cells[4] == str(rec.n_examples), row
        assert cells[5] and "…" not in cells[5], row
    assert any("broken" in line and "failed" in line for line in lines)


def test_progress_notes_end_on_their_own_line_before_the_table():
    """After the last task no bar is left for the live display to erase, so nothing moves
    the cursor back up: the summary table starts below the last ``done`` note."""
    import io

    from rich.console import Console

    from evalsuite.cli.console import RichProgress, summary_table

    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, width=80, highlight=False)
    (first, last) = _records()[4:6]
    with RichProgress(console) as progress:
        for rec in (first, last):
            progress.task_started(rec.model, rec.task, rec.n_examples, 0)
            progress.advance(rec.n_examples)
            progress.probes_started(rec.model, rec.task, 3)
            progress.probe_step("bias.gender")
            progress.task_finished(rec)
        assert not progress.progress.tasks
    console.print(summary_table([first, last]))
    raw = buf.getvalue()
    tail = raw[raw.rindex("done"):]
    assert "\x1b[1A" not in tail and "\x1b[A" not in tail  # no cursor-up after the note

    screen = [line.rsplit("\r", 1)[-1] for line in tail.split("\n")]  # \r + erase-line
    plain = [__import__("re").sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", line) for line in screen]
    header = next(i for i, line in enumerate(plain) if line.startswith("model"))
    assert plain[header - 1].strip().endswith("examples")  # the note, wrapped by rich
    assert all(len(line) <= 80 for line in plain)


def test_run_lists_probes_that_failed_or_were_not_measured(capsys, tmp_path):
    from tests.test_probes import FragileSentiment  # registers the fragile test model

    assert FragileSentiment.kind == "test-fragile-sentiment"
    code = main(["run", "-m", "test-fragile-sentiment:x", "-t", "sentiment/starter",
                 "--limit", "16", "--probes", "safety,robustness?perturbations=whitespace",
                 "-o", str(tmp_path), "--resamples", "50"])
    assert code == 0
    err = capsys.readouterr().err
    failed = err.index("probe failed: test-fragile-sentiment:x · sentiment/starter: "
                       "robustness.whitespace (RuntimeError: tokenizer exploded")
    skipped = err.index("probe not applicable: test-fragile-sentiment:x · sentiment/starter: "
                        "safety.toxicity, safety.amplification, safety.pii_leakage")
    assert failed < skipped < err.index("results:")


# -- evalsuite list ------------------------------------------------------------------------------
def _rows(out: str) -> dict[str, list[str]]:
    """First cell → cells of each table row (rows folded over several lines are joined)."""
    rows: dict[str, list[str]] = {}
    last = None
    for line in out.splitlines():
        if "│" not in line:
            continue
        cells = [c.strip() for c in line.split("│")]
        if cells[0]:
            last = cells[0]
            rows[last] = cells
        elif last is not None:
            rows[last] = [f"{a} {b}".strip() for a, b in zip(rows[last], cells, strict=False)]
    return rows


def test_list_tasks_is_the_tasks_command(capsys):
    assert main(["tasks"]) == 0
    tasks_out = capsys.readouterr().out
    assert main(["list", "tasks"]) == 0
    assert capsys.readouterr().out == tasks_out
    assert main(["list", "colours"]) == 2


def test_list_models_shows_families_options_and_registered_kinds(capsys):
    from typing import ClassVar

    from evalsuite.families import Family
    from evalsuite.models.base import ModelAdapter
    from evalsuite.models.registry import KINDS, register

    @register
    class Echo(ModelAdapter):
        """Repeats its input (a test kind)."""

        kind = "test-echo-listed"
        families = frozenset({Family.SUMMARIZATION})
        extra_options: ClassVar[dict] = {"times": int}

        def load(self): ...

        def predict_batch(self, card, examples): ...

    assert main(["list", "models"]) == 0
    rows = _rows(capsys.readouterr().out)
    for kind in KINDS.names():
        assert kind in rows, kind
    assert rows["st"][1] == "similarity" and "normalize" in rows["st"][2]
    assert rows["spacy"][1] == "ner, sentiment"
    assert rows["hf"][1] == "ner, qa, sentiment, similarity, summarization, translation"
    echo = rows["test-echo-listed"]
    assert echo[1:4] == ["summarization", "times", "registered"]
    assert echo[4] == "Repeats its input (a test kind)."
    assert main(["list", "models", "--family", "similarity"]) == 0
    assert "spacy" not in _rows(capsys.readouterr().out)


def test_list_metrics_per_family_with_scale_and_reference(capsys):
    from evalsuite.metrics.registry import METRICS, get

    assert main(["list", "metrics"]) == 0
    out = capsys.readouterr().out
    rows = [[c.strip() for c in line.split("│")] for line in out.splitlines()
            if "│" in line and line.split("│")[0].strip()]
    listed = {(r[0], r[1]) for r in rows}
    assert listed == {tuple(key.split("/", 1)) for key in METRICS.names()}
    bleu = next(r for r in rows if r[:2] == ["translation", "bleu"])
    assert bleu[2:5] == ["0-100", "higher", get("bleu").reference]
    assert main(["list", "metrics", "--family", "qa"]) == 0
    qa = _rows(capsys.readouterr().out)
    assert set(qa) == {"qa"}  # one family: every row starts with it


def test_list_probes_and_their_cards_and_executors(capsys):
    from evalsuite.probes.templates import discover_probe_cards

    assert main(["list", "probes"]) == 0
    out = capsys.readouterr().out
    rows = _rows(out)
    assert {"bias", "safety", "robustness"} <= set(rows)
    assert "budget:" in rows["bias"][1] and "perturbations:" in rows["robustness"][1]
    for card in discover_probe_cards():
        assert card.name in rows, card.name
        assert rows[card.name][1] == card.probe
    assert rows["safety/adversarial-inputs"][5] == "40 inputs"
    assert main(["list", "executors"]) == 0
    rows = _rows(capsys.readouterr().out)
    assert rows["local"][1] == "one after another" and rows["ray"][1] == "at once"
