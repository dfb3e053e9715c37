"""Reports that compare models: ``evalsuite report`` (HTML) and ``evalsuite compare`` (tables).

Both read only result files (``results/<run-id>/results.json`` and the per-example
predictions beside it), never the runner.  Modules, one job each:

* :mod:`~evalsuite.report.load`: collect records from runs (task slots: how runs combine);
  stable model identity, colour and marker
* :mod:`~evalsuite.report.groups`: comparison groups (models ranked only on shared tasks)
* :mod:`~evalsuite.report.scoring`: per-task scores against chance, dimensions, usability
  index, presets, ranks with ties, win rates
* :mod:`~evalsuite.report.cost`: cost in real units (throughput, latency, memory)
* :mod:`~evalsuite.report.values`: finite numbers read out of records
* :mod:`~evalsuite.report.policy`: the gate's policy evaluated per model (the decision view)
* :mod:`~evalsuite.report.figures`: one function per Plotly figure
* :mod:`~evalsuite.report.time_split`: where the time goes (``efficiency.split_s``)
* :mod:`~evalsuite.report.examples`: the worst examples per (model, task), trimmed
* :mod:`~evalsuite.report.tables`: the decision, scorecard, per-task and methodology tables
* :mod:`~evalsuite.report.html`: the self-contained page (plotly.js embedded once)
* :mod:`~evalsuite.report.compare`: the comparison as table, Markdown, CSV or JSON
* :mod:`~evalsuite.report.index`: ``dashboards/index.html``
* :mod:`~evalsuite.cli.report`: the ``report`` and ``compare`` commands
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path


def build_report(paths: Iterable[str | Path], output: str | Path, *,
                 preset: str | None = None, weights: str | None = None,
                 title: str | None = None, worst_k: int = 5,
                 policy: str | Path | None = None,
                 baselines: Sequence[str | Path] = ()) -> Path:
    """Write the HTML report comparing every model under ``paths``; return its path.

    ``policy``: a gate policy file evaluated on every model for the decision section
    (``baselines``: run folders for its regression rules, else the policy's ``baseline:``).

    >>> build_report(["results/"], "dashboards/latest.html")  # doctest: +SKIP
    """
    from evalsuite.report.html import build_page
    from evalsuite.report.load import load_report_data
    from evalsuite.report.scoring import resolve_weights, score_models
    from evalsuite.utils import atomic_write_text

    chosen = resolve_weights(preset, weights)
    data = load_report_data(paths)
    scores = score_models(data, chosen)
    view = None
    if policy is not None:
        from evalsuite.report.policy import evaluate_policy

        view = evaluate_policy(data, Path(policy), [Path(b) for b in baselines])
    m, t = len(data.models), len(data.tasks)
    title = title or f"Model comparison: {m} model{'s' * (m != 1)} × {t} task{'s' * (t != 1)}"
    page = build_page(data, scores, chosen, title=title, worst_k=worst_k, policy=view)
    out = Path(output)
    atomic_write_text(out, page)
    return out


__all__ = ["build_report"]
