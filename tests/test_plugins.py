"""Plug-ins: a tiny installed package (a ``*.dist-info`` folder with ``entry_points.txt`` on
``PYTHONPATH``) adds a metric and a model kind that ``evalsuite run`` uses with no Python
wrapper; unknown names are one-line errors (exit code 2); the generic registry itself."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from evalsuite.errors import UserError
from evalsuite.registry import Registry, UnknownNameError, one_line
from tests.conftest import REPO, write_jsonl

PLUGIN = '''
"""A team's own metric and model kind, shipped as a package."""

import numpy as np

from evalsuite.families import Family
from evalsuite.metrics.base import Metric
from evalsuite.models.base import ModelAdapter


class ErrorRate(Metric):
    """Share of examples whose predicted label is not the gold one."""

    name = "error_rate"
    families = (Family.SENTIMENT,)
    higher_is_better = False

    def example_stats(self, predictions, examples, context):
        wrong = [float(p != ex["label"]) for p, ex in zip(predictions, examples)]
        return np.column_stack([wrong, np.ones(len(wrong))])

    def from_sums(self, sums):
        return sums[:, 0] / sums[:, 1]


class KeywordModel(ModelAdapter):
    """Positive when the text has the word in the target, else negative."""

    kind = "keyword"
    families = frozenset({Family.SENTIMENT})

    def load(self):
        self.params = 0

    def predict_batch(self, card, examples):
        word = self.spec.target
        return ["positive" if word in ex["text"].split() else "negative" for ex in examples]
'''

ROWS = [{"id": "a", "text": "a good film", "label": "positive"},
        {"id": "b", "text": "a dull film", "label": "negative"},
        {"id": "c", "text": "good grief", "label": "negative"},
        {"id": "d", "text": "fine acting", "label": "positive"}]


@pytest.fixture()
def plugin(tmp_path: Path) -> dict[str, Path]:
    """An installed plug-in (on PYTHONPATH) and a folder of cards that use its metric."""
    site = tmp_path / "site"
    (site / "demo_plugin").mkdir(parents=True)
    (site / "demo_plugin" / "__init__.py").write_text(PLUGIN)
    info = site / "demo_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: demo-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[evalsuite.metrics]\nerror_rate = demo_plugin:ErrorRate\n"
        "missing_metric = demo_plugin_gone:Metric\n\n"
        "[evalsuite.models]\nkeyword = demo_plugin:KeywordModel\n")
    cards = tmp_path / "cards"
    write_jsonl(cards / "d.jsonl", ROWS)
    card = "family: sentiment\ndataset: {path: d.jsonl}\nlabels: [negative, positive]\n"
    (cards / "ok.yaml").write_text(f"name: demo/ok\n{card}metrics: [error_rate, accuracy]\n")
    (cards / "typo.yaml").write_text(f"name: demo/typo\n{card}metrics: [eror_rate]\n")
    (cards / "gone.yaml").write_text(f"name: demo/gone\n{card}metrics: [missing_metric]\n")
    return {"site": site, "cards": cards, "out": tmp_path / "results"}


def evalsuite(plugin: dict[str, Path], *args: str) -> subprocess.CompletedProcess:
    """The installed ``evalsuite`` command, with the plug-in's folder on ``PYTHONPATH``."""
    script = Path(sys.executable).with_name("evalsuite")
    command = [str(script)] if script.is_file() else [sys.executable, "-m", "evalsuite"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1",
           "PYTHONPATH": os.pathsep.join([str(plugin["site"]), str(REPO)])}
    return subprocess.run([*command, *args], capture_output=True, text=True, env=env,
                          cwd=plugin["site"].parent, timeout=300)


def test_plugin_metric_and_model_kind_from_the_command_line(plugin):
    done = evalsuite(plugin, "run", "-m", "keyword:good", "-t", "demo/ok", "--tasks-dir",
                     str(plugin["cards"]), "--no-cache", "--resamples", "20", "-o",
                     str(plugin["out"]), "--run-id", "r1")
    assert done.returncode == 0, done.stderr[-2000:]
    (record,) = json.loads((plugin["out"] / "r1" / "results.json").read_text())["records"]
    assert record["model_kind"] == "keyword" and record["primary_metric"] == "error_rate"
    # predictions: a→positive (right), b→negative (right), c→positive (wrong), d→negative
    assert record["metrics"]["error_rate"]["value"] == pytest.approx(0.5)
    assert record["metrics"]["accuracy"]["value"] == pytest.approx(0.5)


def test_unknown_names_exit_2_with_what_is_available(plugin):
    base = ["--tasks-dir", str(plugin["cards"]), "--no-cache", "-o", str(plugin["out"])]
    done = evalsuite(plugin, "run", "-m", "keywrd:good", "-t", "demo/ok", *base)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "unknown model kind 'keywrd'; available: " in done.stderr
    assert "keyword" in done.stderr.split("available:")[1]  # the plug-in's kind is listed
    # a card naming an unregistered metric breaks only itself: demo/ok ran above, not this
    done = evalsuite(plugin, "run", "-m", "keyword:good", "-t", "demo/typo", *base)
    assert done.returncode == 2 and "typo.yaml: field 'metrics': unknown metric 'eror_rate'" \
        in done.stderr and "error_rate" in done.stderr  # the plug-in metric is offered
    # a plug-in that cannot be imported: the card naming it says which and why
    done = evalsuite(plugin, "run", "-m", "keyword:good", "-t", "demo/gone", *base)
    assert done.returncode == 2 and "demo_plugin_gone" in done.stderr
    assert not plugin["out"].exists()  # refused before any work


def test_a_broken_card_does_not_break_its_folder(plugin, tmp_path):
    from evalsuite.errors import CardError
    from evalsuite.tasks.registry import TaskRegistry

    registry = TaskRegistry.discover([plugin["cards"]])  # no plug-in here: error_rate unknown
    assert "demo/ok" not in registry.names() and "sentiment/starter" in registry.names()
    assert set(registry.broken) == {"demo/ok", "demo/typo", "demo/gone"}
    with pytest.raises(CardError, match="unknown metric 'eror_rate'"):
        registry.get("demo/typo")
    with pytest.raises(CardError, match=r"gone\.yaml"):  # a glob selecting one: its error
        registry.select(["demo/*"])
    assert registry.select(["sentiment/*"])  # the built-in folder is untouched


# -- the generic registry ----------------------------------------------------------------------
class KeywordsLike:
    """Finds words.

    More detail.
    """

    description = ""


def test_registry_imports_built_ins_lazily_and_lists_them(tmp_path, monkeypatch):
    pkg = tmp_path / "lazy_colours"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("IMPORTED = True\nclass Red:\n    name = 'red'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    colours: Registry[type] = Registry("colour", where="--colour",
                                       builtins={"red": "lazy_colours:Red"},
                                       name_of=lambda cls: cls.name)
    assert colours.names() == ["red"] and "lazy_colours" not in sys.modules
    assert colours.get("red").name == "red" and "lazy_colours" in sys.modules

    @colours.register
    class Blue:
        name = "blue"

    assert colours.names() == ["red", "blue"] and colours.get("blue") is Blue
    assert one_line(Blue) == "" and one_line(KeywordsLike) == "Finds words."
    with pytest.raises(UnknownNameError) as info:
        colours.get("green")
    assert str(info.value) == "--colour: unknown colour 'green'; available: blue, red"
    assert isinstance(info.value, UserError) and isinstance(info.value, KeyError)
    with pytest.raises(ValueError, match="registered twice"):
        colours.add("blue", type("Other", (), {"name": "blue"}))


def test_registry_plugin_with_a_wrong_name_or_missing_package(tmp_path, monkeypatch):
    site = tmp_path / "site"
    (site / "shapes_plugin").mkdir(parents=True)
    (site / "shapes_plugin" / "__init__.py").write_text(
        "import json\nclass Square:\n    name = 'square'\n")
    info = site / "shapes_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: shapes-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(textwrap.dedent("""\
        [test.shapes]
        square = shapes_plugin:Square
        circle = shapes_plugin:Square
        hexagon = no_such_module_here:Hexagon
        """))
    monkeypatch.syspath_prepend(str(site))
    shapes: Registry[type] = Registry("shape", group="test.shapes",
                                      name_of=lambda cls: cls.name)
    assert sorted(shapes.names()) == ["circle", "hexagon", "square"]
    assert shapes.get("square").name == "square"
    assert {e.name: e.origin for e in shapes.entries()}["square"] == "plug-in shapes-plugin"
    with pytest.raises(UserError, match="calls itself 'square'"):
        shapes.get("circle")
    with pytest.raises(UserError, match="needs the Python package 'no_such_module_here'"):
        shapes.get("hexagon")
