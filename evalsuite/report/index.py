"""``dashboards/index.html``: every report and run found, newest first, for a team's history.

Reports are recognised by the ``#evalsuite-report`` JSON block that :mod:`html` writes near
the top of each page (only the first 64 KiB of a file are read); runs by their
``results.json`` (read without schema validation, so one broken run does not hide the rest).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from html import escape
from pathlib import Path

from evalsuite.report.html import CSS, META_ID, when
from evalsuite.results.files import RESULTS_FILE

HEAD_BYTES = 65536
INDEX_CSS = """
td .path { display:block; color:var(--muted); font-size:11px; overflow-wrap:anywhere; }
td.when { white-space:nowrap; }
"""
_META = re.compile(r'<script type="application/json" id="' + META_ID + r'">(.*?)</script>',
                   re.S)


@dataclass
class Listed:
    """One report or run in the index."""

    kind: str  # "report" or "run"
    path: Path
    title: str
    created: str
    models: list[str]
    detail: str = ""


def find_reports(folder: Path, skip: Path | None = None) -> list[Listed]:
    """Report pages in ``folder`` (not recursing), read from their embedded metadata."""
    out = []
    for path in sorted(folder.glob("*.html")) if folder.is_dir() else []:
        if skip is not None and path.resolve() == skip.resolve():
            continue
        with path.open("rb") as fh:
            head = fh.read(HEAD_BYTES).decode("utf-8", errors="replace")
        match = _META.search(head)
        if not match:
            continue
        try:
            meta = json.loads(match.group(1))
        except json.JSONDecodeError:
            continue
        runs = meta.get("runs") or []
        out.append(Listed("report", path, str(meta.get("title") or path.stem),
                          str(meta.get("created") or _mtime(path)),
                          [str(m) for m in meta.get("models") or []],
                          f"{len(meta.get('tasks') or [])} tasks; runs: {', '.join(runs)}"))
    return out


def find_runs(folder: Path) -> list[Listed]:
    """Run folders directly under ``folder`` (or ``folder`` itself when it is one)."""
    if not folder.is_dir():
        return []
    files = [folder / RESULTS_FILE] if (folder / RESULTS_FILE).is_file() else \
        sorted(folder.glob(f"*/{RESULTS_FILE}"))
    out = []
    for file in files:
        try:
            doc = json.loads(file.read_text(encoding="utf-8"))
            run, records = doc["run"], doc["records"]
        except (OSError, ValueError, KeyError, TypeError):
            out.append(Listed("run", file.parent, file.parent.name, _mtime(file), [],
                              "unreadable results.json"))
            continue
        models = list(dict.fromkeys(str(r.get("model")) for r in records))
        tasks = {r.get("task") for r in records}
        bad = sum(r.get("status", "ok") != "ok" for r in records)
        detail = f"{len(tasks)} tasks, {len(records)} records"
        detail += f" ({bad} skipped/failed)" if bad else ""
        detail += f"; {run.get('status', '')}".rstrip("; ")
        out.append(Listed("run", file.parent, str(run.get("id") or file.parent.name),
                          str(run.get("created") or _mtime(file)), models, detail))
    return out


def write_index(output: Path, results_dirs: list[Path], dashboards_dir: Path) -> list[Listed]:
    """Write the index page and return what it lists."""
    reports = find_reports(dashboards_dir, skip=output)
    runs = [item for d in results_dirs for item in find_runs(d)]
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(render_index(reports, runs, output.parent), encoding="utf-8")
    return reports + runs


def render_index(reports: list[Listed], runs: list[Listed], base: Path) -> str:
    """The index page; links are relative to ``base`` (the page's folder)."""
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")

    def table(items: list[Listed], empty: str) -> str:
        if not items:
            return f'<p class="not-measured">{escape(empty)}</p>'
        rows = []
        for item in sorted(items, key=lambda i: i.created, reverse=True):
            target = item.path if item.kind == "report" else item.path / RESULTS_FILE
            href = Path(os.path.relpath(target.resolve(), base.resolve())).as_posix()
            rows.append(f'<tr><td><a href="{escape(href)}">{escape(item.title)}</a>'
                        f'<span class="path">{escape(href)}</span></td>'
                        f'<td class="when">{escape(when(item.created))}</td>'
                        f"<td>{escape(', '.join(item.models)) or '–'}</td>"
                        f"<td>{escape(item.detail)}</td></tr>")
        return ("<table><thead><tr><th>name</th><th>date (UTC)</th><th>models</th><th>contents"
                f"</th></tr></thead><tbody>{''.join(rows)}</tbody></table>")

    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\">"
            "<title>evalsuite dashboards</title>"
            f"<style>{CSS}{INDEX_CSS}</style></head>\n<body><header><h1>evalsuite dashboards</h1>"
            f'<p class="sub">{len(reports)} reports, {len(runs)} runs · indexed '
            f"{escape(now)}</p></header><main>"
            f"<section><h2>Reports</h2>{table(reports, 'No reports found.')}</section>"
            f"<section><h2>Runs</h2>{table(runs, 'No runs found.')}</section>"
            "</main></body></html>\n")


def _mtime(path: Path) -> str:
    return datetime.fromtimestamp(path.stat().st_mtime, timezone.utc).isoformat(
        timespec="seconds")
