"""Screenshot one section of an evalsuite report (for docs/img/), in headless Chromium.

    .venv/bin/python scripts/report_screenshot.py dashboards/report.html generalisation \
        docs/img/report-generalisation.png [--width 1200] [--max-height 1400]

Playwright drives the system Chromium (no browser download), loads the page from disk,
waits until every figure has drawn, hides the sticky header and saves the section's box
(cut at ``--max-height`` pixels) as a PNG.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path)
    parser.add_argument("section", help="the section's id, e.g. generalisation, scorecard")
    parser.add_argument("output", type=Path)
    parser.add_argument("--width", type=int, default=1200)
    parser.add_argument("--max-height", type=int, default=1400)
    args = parser.parse_args()
    chromium = next((p for p in map(shutil.which, ("chromium", "chromium-browser",
                                                   "google-chrome")) if p), None)
    if chromium is None:
        sys.exit("chromium not found (scripts/setup.sh test installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True,
                                    args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": args.width, "height": 1000},
                                    device_scale_factor=1)
            page.goto(args.report.resolve().as_uri(), wait_until="load")
            page.wait_for_function("[...document.querySelectorAll('.js-plotly-plot')]"
                                   ".every(gd => gd._fullLayout)", timeout=60_000)
            page.add_style_tag(content="header { position: static !important; }")
            page.wait_for_timeout(500)
            box = page.locator(f"section#{args.section}").bounding_box()
            if box is None:
                sys.exit(f"{args.report}: no section with id {args.section!r}")
            clip = {"x": box["x"], "y": box["y"], "width": box["width"],
                    "height": min(box["height"], args.max_height)}
            page.set_viewport_size({"width": args.width,
                                    "height": int(box["y"] + clip["height"] + 10)})
            args.output.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=args.output, clip=clip, full_page=True)
        finally:
            browser.close()
    print(f"{args.output}: {int(clip['width'])}×{int(clip['height'])} px, "
          f"{args.output.stat().st_size / 1024:.0f} KB")


if __name__ == "__main__":
    main()
