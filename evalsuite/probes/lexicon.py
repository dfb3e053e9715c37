"""The probe word lists (``wordlists/*.yaml``, sources in ``wordlists/README.md``), loaded once."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

WORDLISTS = Path(__file__).resolve().parent / "wordlists"


@cache
def load(name: str) -> Any:
    """The parsed YAML file ``wordlists/<name>.yaml``."""
    return yaml.safe_load((WORDLISTS / f"{name}.yaml").read_text(encoding="utf-8"))


def name_groups() -> dict[str, dict[str, list[str]]]:
    """Origin group → ``{"female": […], "male": […], "surnames": […]}``."""
    return load("names")["groups"]


def person_nouns() -> frozenset[str]:
    return frozenset(w.lower() for w in load("identity")["person_nouns"])


def cities() -> list[str]:
    return list(load("cities")["cities"])


def occupations() -> list[dict[str, Any]]:
    return list(load("occupations")["occupations"])


def calibration_set() -> tuple[list[str], list[str]]:
    """(toxic, clean) sentences of the toxicity calibration set."""
    data = load("toxicity_calibration")
    return list(data["toxic"]), list(data["clean"])
