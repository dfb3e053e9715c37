"""Release gating: a policy of thresholds and allowed regressions checked against result files.

``evalsuite gate RESULTS --policy POLICY.yaml [--baseline RUN]`` exits 0 when every rule
passes, 1 when any fails and 2 when the policy or the inputs are wrong (see ``docs/gate.md``).

Modules: :mod:`~evalsuite.gate.policy` (the YAML file), :mod:`~evalsuite.gate.paths` (figure
addresses with wildcards), :mod:`~evalsuite.gate.rules` (evaluating rules),
:mod:`~evalsuite.gate.outputs` (table, JUnit XML, Markdown, JSON) and
:mod:`~evalsuite.gate.check` (all of it in one call; the command line is
:mod:`evalsuite.cli.gate`).  Importing this package does not import
the command line.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {"Policy": "policy", "load_policy": "policy", "Check": "rules",
            "GateReport": "rules", "RuleOutcome": "rules", "evaluate": "rules",
            "run_gate": "check"}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """Import on first use, so that registering the command keeps ``evalsuite`` fast."""
    if name in _EXPORTS:
        return getattr(import_module(f"evalsuite.gate.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'evalsuite.gate' has no attribute {name!r}")
