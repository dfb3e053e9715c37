"""Export a run's results to the tools a team already uses.

Every exporter reads only the run folder (``results.json``, the predictions files and any
HTML report saved in it), like the report and the gate.

==================  ===========================================================================
module              target
==================  ===========================================================================
``fields``          what a record becomes in a tracker: flat metric names, parameters, tags,
                    artifacts and a stable key per (run, model, task)
``mlflow_export``   one MLflow run per (model, task) record; exporting again updates it
``wandb_export``    one Weights & Biases run per record, with a stable run id
``model_index``     the Hugging Face model-card ``model-index`` metadata of one model
==================  ===========================================================================
"""

from __future__ import annotations

from dataclasses import dataclass, field

TARGETS = ("mlflow", "wandb", "model-index")


@dataclass
class ExportSummary:
    """What an export did, for the command line to report."""

    target: str
    where: str
    created: int = 0
    updated: int = 0
    logged: int = 0  # runs sent without knowing which existed (W&B resumes them by id)
    notes: list[str] = field(default_factory=list)

    def line(self) -> str:
        if self.logged:
            return (f"{self.target}: {self.logged} runs logged, each under its stable id "
                    f"({self.where})")
        return (f"{self.target}: {self.created} runs created, {self.updated} updated "
                f"({self.where})")
