"""The comparison as data, and as a terminal table, Markdown, CSV or JSON.

One row per model: group by group (models ranked only against models scored on the same
tasks), then the models alone on their tasks.  Per model: rank within its group, usability
index with interval, the five dimensions, win rate, cost in real units, whether it beats
chance, its generalisation (mean retention over the suite variants its group shares), and per
task the primary metric with its interval, the chance baseline, the skill over chance and,
on a suite variant, its retention.  ``--format json`` writes :func:`comparison` as it is;
its shape is documented in ``docs/report.md`` and kept stable for scripts (fields are only
ever added).
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from evalsuite.errors import UserError
from evalsuite.report import generalisation as G
from evalsuite.report.cost import cost_of, megabytes, si
from evalsuite.report.load import ReportData
from evalsuite.report.scoring import DIMENSIONS, Score, TaskScore, Weights

FORMATS = ("table", "markdown", "csv", "json")
SUFFIXES = {".md": "markdown", ".markdown": "markdown", ".csv": "csv", ".json": "json",
            ".txt": "table"}
BELOW = "✗"  # marks a figure of a model that does not beat chance


def task_entry(ts: TaskScore) -> dict[str, Any]:
    """``tasks.<task>`` of the JSON: the primary metric against chance."""
    return {"metric": ts.metric, "value": ts.value, "ci_low": ts.ci_low,
            "ci_high": ts.ci_high, "scale": ts.scale, "chance": ts.chance,
            "chance_baseline": ts.baseline, "beats_chance": ts.beats_chance,
            "chance_p_value": ts.p_value, "chance_test": ts.test,
            **({"chance_note": ts.note} if ts.note else {}), "skill": ts.skill}


def overall_chance(score: Score) -> bool | None:
    """False when the model is below chance on any of its tasks, True when it beats chance
    on every one, None when some could not be tested."""
    verdicts = [ts.beats_chance for ts in score.tasks.values()]
    if any(v is False for v in verdicts):
        return False
    return True if verdicts and all(verdicts) else None


def comparison(data: ReportData, scores: list[Score], weights: Weights,
               policy: Any = None) -> dict[str, Any]:
    """Everything ``compare`` prints, as plain data (what ``--format json`` writes);
    ``policy``: a :class:`~evalsuite.report.policy.PolicyView`."""
    groups: dict[str, Any] = {}
    models = []
    retention = _retention_cells(data, scores)
    for s in scores:
        variants = {v.slot: v for v in G.variants_of(data, s.model)}
        cell = retention.get(s.model.key)
        if s.group is not None and s.group.id not in groups:
            groups[s.group.id] = {"id": s.group.id, "tasks": s.group.tasks,
                                  "models": [m.label for m in s.group.models],
                                  "describe": s.group.describe()}
        cost = cost_of(s.model, s.shared)
        verdict = policy.verdict(s.model) if policy is not None else None
        models.append({
            "model": s.model.label, "identity": s.model.key, "spec": s.model.spec,
            "group": s.group.id if s.group else None, "rank": s.rank, "tied": s.tied,
            "tier": s.tier if s.group else None,
            "beats_chance": overall_chance(s),
            "below_chance": s.below_chance,
            "index": s.index, "index_low": s.low, "index_high": s.high,
            "win_rate": s.win_rate, "weights_used": s.weights,
            "shared_tasks": s.shared,
            "dimensions": {d: {"value": dim.value, "half_width": dim.half_width,
                               "derived": dim.how, "n": dim.n, "in_index": d in s.weights}
                           for d, dim in s.dimensions.items()},
            "tasks": {t: {**task_entry(ts), "cost": cost_of(s.model, [t]).to_dict(),
                          "generalisation": (G.variant_entry(variants[t]) if t in variants
                                             else None)}
                      for t, ts in s.tasks.items()},
            "generalisation": None if cell is None else G.retention_entry(cell),
            "cost": cost.to_dict(),
            "policy": None if verdict is None else {
                "passed": verdict.passed, "first_failure": None if verdict.passed else
                {"rule": verdict.rule, "message": verdict.message}},
            "not_scored": [{"task": e.task, "status": e.status,
                            "reason": e.record.reason} for e in s.model.not_scored],
        })
    tasks = []
    for t in data.tasks:
        slot = data.slots.get(t)
        tasks.append({"task": t, "family": data.families[t],
                      "base_task": slot.task if slot else t,
                      "variant": slot.variant if slot else None,
                      "n_examples": slot.n_examples if slot else None})
    out: dict[str, Any] = {
        "weights": {"source": weights.source, **weights.values},
        "tasks": tasks, "groups": list(groups.values()),
        "alone": [s.model.label for s in scores if s.group is None and s.model.results],
        "runs": [str(r.run.id) for r in data.runs],
        "combined": [{"model": r.model, "task": r.entry.task, "dropped_run": r.entry.run_id,
                      "used_run": r.by.run_id, "reason": r.reason,
                      **({"lost_sections": r.lost_sections} if r.lost_sections else {})}
                     for r in data.replaced],
        "models": models,
        "generalisation": [{"model": ms.model.label, "suite": ms.suite,
                            "reference_task": ms.reference_task, "metric": ms.metric,
                            "sentence": G.sentence(ms)}
                           for s in scores for ms in G.model_suites(data, s.model)],
    }
    if policy is not None:
        out["policy"] = {
            "file": str(policy.policy),
            "passing": [{"model": s.model.label, "group": s.group.id if s.group else None,
                         "rank": s.rank, "tied": s.tied,
                         "quality": s.dimensions["quality"].value,
                         "tasks": s.shared,
                         "cost": policy.costs[s.model.key].to_dict()}
                        for s in policy.ranked],
            "failing": [{"model": v.model.label, "rule": v.rule, "message": v.message}
                        for v in policy.failing]}
    return out


def _retention_cells(data: ReportData, scores: list[Score]) -> dict[str, G.Retention]:
    """The generalisation column per model key: over its group's shared variants, or over
    its own when alone; absent for a model without suite variants."""
    if not G.any_generalisation(data):
        return {}
    out: dict[str, G.Retention] = {}
    done: set[str] = set()
    for s in scores:
        if s.group is not None and s.group.id not in done:
            done.add(s.group.id)
            out.update(G.group_retention(data, s.group.models, s.group.tasks))
        elif s.group is None and s.model.results:
            out.update(G.group_retention(data, [s.model], None))
    return {k: c for k, c in out.items() if c.variants or c.why != "no suite variant"}


def resolve_format(fmt: str | None, output: str | None) -> str:
    """The format named by ``--format``, else guessed from ``-o``'s suffix, else 'table'."""
    if fmt is None:
        if output:
            for suffix, name in SUFFIXES.items():
                if output.lower().endswith(suffix):
                    return name
        return "table"
    fmt = fmt.strip().lower()
    if fmt == "md":
        fmt = "markdown"
    if fmt not in FORMATS:
        raise UserError(f"unknown format {fmt!r} (choose one of: {', '.join(FORMATS)})",
                        where="--format")
    return fmt


def render(result: dict[str, Any], fmt: str) -> str:
    """The comparison in one of :data:`FORMATS` (``table`` as plain text)."""
    if fmt == "json":
        return json.dumps(result, indent=2, ensure_ascii=False) + "\n"
    if fmt == "csv":
        return to_csv(result)
    if fmt == "markdown":
        return to_markdown(result)
    return table_text(result)


def _num(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _index_text(m: dict[str, Any]) -> str:
    if m["index"] is None:
        return "–"
    return f"{m['index']:.3f} [{m['index_low']:.3f}, {m['index_high']:.3f}]"


def _rank_text(m: dict[str, Any]) -> str:
    if m["rank"] is None:
        return "–"
    rank = f"={m['rank']}" if m["tied"] else str(m["rank"])
    return f"{m['group']}{rank}" if m["group"] else rank


def _metric_text(t: dict[str, Any] | None) -> str:
    if not t or t["value"] is None:
        return "–"
    digits = 1 if t.get("scale") == "0-100" else 3
    text = f"{t['value']:.{digits}f}"
    return f"{text} {BELOW}" if t.get("beats_chance") is False else text


def _model_text(m: dict[str, Any]) -> str:
    return f"{m['model']} {BELOW}" if m["below_chance"] else m["model"]


def _cost_text(c: dict[str, Any]) -> str:
    if not c["measured"]:
        return "not measured"
    parts = []
    if c["examples_per_s"] is not None:
        parts.append(f"{si(c['examples_per_s'])} ex/s")
    if c["memory_mb"] is not None:
        parts.append(megabytes(c["memory_mb"]) + ("" if c["memory_kind"] == "model"
                                                  else " (process peak)"))
    return ", ".join(parts) or "not measured"


def _rows(result: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    general = any(m.get("generalisation") for m in result["models"])
    head = ["rank", "model", "index [interval]", *DIMENSIONS,
            *(["generalisation"] if general else []), "win rate", "cost", "tasks"]
    rows = [[_rank_text(m), _model_text(m), _index_text(m),
             *[_num(m["dimensions"][d]["value"]) if m["dimensions"][d]["value"] is not None
               else "not measured" for d in DIMENSIONS],
             *([_retention_text(m.get("generalisation"))] if general else []),
             _num(m["win_rate"], 2), _cost_text(m["cost"]),
             f"{len(m['shared_tasks'])}/{len(m['tasks'])}"] for m in result["models"]]
    return head, rows


def _retention_text(g: dict[str, Any] | None) -> str:
    """``94% (worst en→gl 94%)``; ``nothing to retain``; ``–``."""
    if not g:
        return "–"
    if g["value"] is None:
        return "nothing to retain" if g["nothing_to_retain"] else "–"
    worst = g["worst"]
    return f"{G.percent(g['value'])} (worst {worst['label']} {G.percent(worst['retention'])})"


def notes(result: dict[str, Any]) -> list[str]:
    w = result["weights"]
    out = [f"Weights ({w['source']}): " + ", ".join(f"{d} {w[d]:.2f}" for d in DIMENSIONS)
           + ". Dimensions are 0–1, higher is better; quality is the skill over chance. "
             "Ranks (group letter + place) compare only models of one group, on the tasks "
             "they share; overlapping intervals share a place (=N)."]
    for g in result["groups"]:
        out.append(f"Group {g['id']}: {g['describe']}.")
    if result["alone"]:
        out.append("Not ranked (no other model has their tasks; see per-task values): "
                   + ", ".join(result["alone"]) + ".")
    below = [m["model"] for m in result["models"] if m["below_chance"]]
    if below:
        out.append(f"{BELOW} does not beat its task's chance baseline (one-sided paired test, "
                   "α = 0.05) on: " + "; ".join(
                       f"{m['model']} ({', '.join(m['below_chance'])})"
                       for m in result["models"] if m["below_chance"])
                   + ". Its figures on those tasks count 0 in every aggregate.")
    missing = [d for d in DIMENSIONS if any(
        m["group"] == g["id"] and not m["dimensions"][d]["in_index"]
        and m["dimensions"][d]["value"] is not None and m["index"] is not None
        for g in result["groups"] for m in result["models"])]
    if missing:
        out.append("Left out of a group's index because not every member has them: "
                   f"{', '.join(missing)}.")
    if result.get("generalisation"):
        out.append(f"Generalisation column: {G.RULE} (not in the index).")
        out += [g["sentence"] for g in result["generalisation"]]
    for c in result["combined"]:
        out.append(f"combined: {c['model']} · {c['task']}: run {c['used_run']} used, "
                   f"run {c['dropped_run']} replaced ({c['reason']}).")
    for model, s in [(m["model"], s) for m in result["models"] for s in m["not_scored"]]:
        out.append(f"{s['status']}: {model} · {s['task']}: {s['reason'] or 'no reason'}")
    policy = result.get("policy")
    if policy:
        passing = ", ".join(p["model"] for p in policy["passing"]) or "none"
        out.append(f"Policy {policy['file']}: pass every rule: {passing}.")
        for f in policy["failing"]:
            out.append(f"fails {f['rule']!r}: {f['model']}: {f['message']}")
    return out


def table_text(result: dict[str, Any]) -> str:
    """A plain-text table (what ``-o FILE`` writes for the table format)."""
    head, rows = _rows(result)
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    right = {0, 2, len(head) - 1, len(head) - 3, *range(3, 3 + len(DIMENSIONS))}

    def line(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths, strict=True))).rstrip()

    out = [line(head), "  ".join("-" * w for w in widths)] + [line(r) for r in rows]
    return "\n".join([*out, "", *notes(result)]) + "\n"


def rich_table(result: dict[str, Any]) -> Any:
    """The comparison as a ``rich`` table for the terminal."""
    from rich.table import Table

    head, rows = _rows(result)
    table = Table(show_edge=False, header_style="bold", pad_edge=False,
                  caption="– = not measured", caption_justify="left")
    for i, col in enumerate(head):
        table.add_column(col, justify="left" if i in (1, len(head) - 2) else "right",
                         min_width=len(col) if i > 2 else None, no_wrap=i not in (1, 2))
    for row in rows:
        table.add_row(*[("[dim]–[/]") if c == "not measured" else _escape(c) for c in row])
    return table


def to_markdown(result: dict[str, Any]) -> str:
    """The scorecard and a task × model table of primary metrics, as GitHub Markdown."""
    head, rows = _rows(result)
    out = ["| " + " | ".join(head) + " |",
           "|" + "|".join("---:" if i not in (1, len(head) - 2) else "---"
                          for i in range(len(head))) + "|"]
    out += ["| " + " | ".join(_md(c) for c in r) + " |" for r in rows]
    out += ["", *(f"- {_md(n)}" for n in notes(result)), ""]
    models = result["models"]
    if result["tasks"] and models:
        out += ["| task | metric | chance | " + " | ".join(_md(m["model"]) for m in models)
                + " |", "|---|---|---:|" + "---:|" * len(models)]
        for t in result["tasks"]:
            first = next((m["tasks"][t["task"]] for m in models if t["task"] in m["tasks"]),
                         None)
            name = first["metric"] if first else "–"
            chance = _metric_text({"value": first["chance"], "scale": first["scale"]}) \
                if first and first["chance"] is not None else "–"
            out.append(f"| {_md(t['task'])} | {_md(str(name))} | {chance} | " + " | ".join(
                _metric_text(m["tasks"].get(t["task"])) for m in models) + " |")
        out.append("")
    return "\n".join(out)


def to_csv(result: dict[str, Any]) -> str:
    """One row per model: rank, index, interval, dimensions, cost and every task's primary
    metric (with ``<task>:chance`` and ``<task>:beats_chance`` columns)."""
    tasks = [t["task"] for t in result["tasks"]]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["group", "rank", "tied", "model", "index", "index_low", "index_high",
                     *DIMENSIONS, "win_rate", "examples_per_s", "memory_mb", *tasks,
                     *(f"{t}:chance" for t in tasks), *(f"{t}:beats_chance" for t in tasks),
                     "generalisation"])
    for m in result["models"]:
        cells = [(m["tasks"].get(t) or {}) for t in tasks]
        writer.writerow([
            m["group"] or "", m["rank"] if m["rank"] is not None else "", m["tied"],
            m["model"], *(_csv(m[k]) for k in ("index", "index_low", "index_high")),
            *(_csv(m["dimensions"][d]["value"]) for d in DIMENSIONS), _csv(m["win_rate"]),
            _csv(m["cost"]["examples_per_s"]), _csv(m["cost"]["memory_mb"]),
            *(_csv(c.get("value")) for c in cells), *(_csv(c.get("chance")) for c in cells),
            *("" if c.get("beats_chance") is None else c["beats_chance"] for c in cells),
            _csv((m.get("generalisation") or {}).get("value"))])
    return buffer.getvalue()


def _csv(value: float | None) -> str:
    return "" if value is None else repr(float(value))


def _md(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)
