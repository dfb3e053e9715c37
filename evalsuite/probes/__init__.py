"""Bias, safety and robustness probes (DESIGN.md §4: the ``bias``, ``safety`` and
``robustness`` blocks of a result record).

Probes predict only through the runner's :class:`~evalsuite.runner.TaskPredictor` (batched,
cached, never reloading a model) and cost a bounded multiple of the task; see
``docs/probes.md`` for what every figure means and what it costs.

=================  ==========================================================================
module             job
=================  ==========================================================================
``swaps``          counterfactual demographic swaps (names, gendered words and pronouns,
                   nationality, religion, age, disability)
``perturb``        seeded robustness perturbations
``templates``      probe cards (``tasks/bias``, ``tasks/safety``) and the sets they generate
``stats``          gaps with bootstrap intervals, permutation p-values, effect sizes, WEAT
``bias``           counterfactual and template bias figures per family
``safety``         toxicity, amplification and personal-data leakage with a pluggable classifier
``robustness``     score, retention and flip rate per perturbation
``hook``           ``run_probes`` — what the runner calls; option parsing
=================  ==========================================================================
"""

from evalsuite.probes.hook import PROBE_KINDS, parse_probes, run_probes

__all__ = ["PROBE_KINDS", "parse_probes", "run_probes"]
