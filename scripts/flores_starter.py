"""Build tasks/translation/data/flores200_devtest_100.jsonl from a FLORES-200 devtest copy.

    python scripts/flores_starter.py ../shared/data/flores200-devtest-300

Takes the first N sentences (default 100) of the devtest files of the starter suite's
languages; line i of every language file translates line i of every other, so the row id
(``devtest-0001`` …) is shared by every language and the suite pairs examples by it.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

LANGUAGES = ("eng_Latn", "cat_Latn", "glg_Latn", "fra_Latn", "deu_Latn", "zho_Hans", "arb_Arab",
             "hin_Deva", "swh_Latn", "yor_Latn", "amh_Ethi", "khm_Khmr", "mya_Mymr", "quy_Latn")
OUT = Path(__file__).resolve().parent.parent / "tasks/translation/data/flores200_devtest_100.jsonl"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="folder with <lang>.txt and metadata.tsv")
    parser.add_argument("-n", type=int, default=100, help="sentences to keep (default 100)")
    args = parser.parse_args()
    lines = {lang: (args.source / f"{lang}.txt").read_text(encoding="utf-8").splitlines()
             for lang in LANGUAGES}
    with (args.source / "metadata.tsv").open(encoding="utf-8", newline="") as fh:
        meta = list(csv.DictReader(fh, delimiter="\t"))
    with OUT.open("w", encoding="utf-8") as out:
        for i in range(args.n):
            row = {"id": f"devtest-{i + 1:04d}", "domain": meta[i]["domain"],
                   "topic": meta[i]["topic"], "url": meta[i]["URL"],
                   **{lang: lines[lang][i].strip() for lang in LANGUAGES}}
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"wrote {args.n} rows x {len(LANGUAGES)} languages to {OUT}")


if __name__ == "__main__":
    main()
