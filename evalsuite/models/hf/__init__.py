"""The ``hf`` kind: transformers checkpoints with the head their config declares.

:mod:`.adapter` is the backend; :mod:`.heads` chooses the head, :mod:`.runtime` holds the
loaded model, and :mod:`.classify`, :mod:`.generation`, :mod:`.qa` run the heads.
"""

from evalsuite.models.hf.adapter import HFAdapter

__all__ = ["HFAdapter"]
