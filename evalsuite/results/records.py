"""The result file as typed records: one pydantic model per object of ``results.json``.

This module is the documentation of the result file (DESIGN.md §4): every field has a
docstring (unit, scale, meaning) that becomes its description in the JSON Schema
``evalsuite/results/schema/results.schema.json``, which is generated from these models::

    python -m evalsuite.results.records --schema --write   # or --schema alone: print it

(a test fails when the committed schema and the models differ).  The section names
(:data:`SECTIONS`) and the metric scales (:class:`Scale`) are spelled here and nowhere else.

**Present, absent, null.**  A field is written when the code that builds the record gave it
a value, ``None`` included (written as ``null``: measured but not computable), and absent when
it was never given (not measured, not applicable): records are dumped with
``exclude_unset=True``, so a file read and written again is unchanged, key for key.  Build a
record with only the fields it has; never fill a figure with a made-up zero.

**Extra fields.**  Every model accepts fields it does not declare (``extra="allow"``) so that
a file written by a newer 1.x minor version still loads, and its extra fields are kept when
the file is rewritten (a resumed run).  Writing is strict: :func:`undeclared_fields` lists
every field of a record that no model declares, and the result writer refuses such a record
(:class:`UndeclaredFieldError`, a programming error raised in every run, so the tests that
write the record catch it): a new field cannot reach a file without its docstring here.
Adding a field is one line and one docstring in the right model below (then regenerate the
schema).  A change of meaning of an existing field bumps
:data:`SCHEMA_VERSION`'s minor number; a reader refuses files of another major version.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from enum import Enum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

from evalsuite.families import Family

SCHEMA_VERSION = "1.0"
SCHEMA_ID = f"https://evalsuite.dev/schema/results-{SCHEMA_VERSION}.json"


# -- names and scales ---------------------------------------------------------------------------
class TextEnum(str, Enum):
    """An enum whose members are their text: equal to it, hashed like it, printed as it."""

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)


class Section(TextEnum):
    """The blocks of figures in a record that the gate and the report address by dotted path
    (``<task>.<section>.<key>…``)."""

    METRICS = "metrics"
    CHANCE = "chance"
    EFFICIENCY = "efficiency"
    BIAS = "bias"
    SAFETY = "safety"
    ROBUSTNESS = "robustness"
    GENERALISATION = "generalisation"


SECTIONS: tuple[str, ...] = tuple(s.value for s in Section)
"""Every section name, in record order."""
PROBE_SECTIONS: tuple[str, ...] = (Section.BIAS.value, Section.SAFETY.value,
                                   Section.ROBUSTNESS.value)
"""The sections written by probes (``--probes``); also the probes' names."""


class Scale(TextEnum):
    """The range a metric's value lives on, the scale its community quotes it in: ``0-1``
    (accuracy, F1, precision/recall, ROUGE), ``0-100`` (BLEU, chrF, SQuAD exact match and F1)
    or ``-1-1`` (Pearson/Spearman correlations, MCC)."""

    UNIT = "0-1"
    PERCENT = "0-100"
    SIGNED_UNIT = "-1-1"


def range_scale(low: float, high: float) -> str:
    """The scale text of a value range that is not a :class:`Scale`, e.g. ``"0-5"`` for the
    raw scores of an STS card (``score_range: [0, 5]``)."""
    return f"{low:g}-{high:g}"


# -- field types --------------------------------------------------------------------------------
def _number(value: Any) -> float | int | None:
    """A JSON number as written (an int stays an int); NaN/inf and ``None`` become ``None``;
    NumPy scalars become Python numbers."""
    if value is None:
        return None
    if hasattr(value, "item") and hasattr(value, "dtype") and getattr(value, "ndim", 1) == 0:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PydanticCustomError("number", "Input should be a number or null")
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else None
    return int(value)


def _share(value: Any) -> float | int | None:
    number = _number(value)
    if number is not None and not 0 <= number <= 1:
        raise PydanticCustomError("share", "Input should be between 0 and 1")
    return number


Number = Annotated[float | None, PlainValidator(_number),
                   WithJsonSchema({"type": ["number", "null"]})]
"""A figure: a JSON number or ``null`` (not computable; NaN and inf are written as null)."""
Share = Annotated[float | None, PlainValidator(_share),
                  WithJsonSchema({"type": ["number", "null"], "minimum": 0, "maximum": 1})]
"""A share or a probability: a number in [0, 1], or ``null``."""
def _inside_run(value: str | None) -> str | None:
    """A path relative to the run folder that stays inside it (no absolute path, no ``..``),
    so that a results file from elsewhere cannot make ``verify``, the report or an export
    read or upload another file."""
    if value is None:
        return None
    parts = value.replace("\\", "/").split("/")
    if value.startswith(("/", "~")) or ".." in parts or (len(value) > 1 and value[1] == ":"):
        raise PydanticCustomError("inside_run", "must be a path inside the run folder")
    return value


RunPath = Annotated[str | None, AfterValidator(_inside_run)]
"""A file of the run, relative to its folder (``predictions/….jsonl``)."""
Count = Annotated[int, Field(ge=0)]
"""A non-negative integer."""
ProbeState = Literal["not_applicable", "failed"]
MemorySource = Literal["cuda_allocator", "rss_maxrss", "rss_sampled", "rss_maxrss_lifetime"]


class UndeclaredFieldError(ValueError):
    """A record carries a field that no model of :mod:`evalsuite.results.records` declares."""


class Block(BaseModel):
    """Base of every object in a result file (see the module docstring for the policies)."""

    model_config = ConfigDict(extra="allow", use_attribute_docstrings=True,
                              validate_assignment=True)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data, exactly the fields that were given (see the module docstring)."""
        return self.model_dump(mode="json", exclude_unset=True)

    def present(self) -> dict[str, Any]:
        """The fields that were given (declared ones in declaration order, then extras),
        by name, as typed values: what a dotted path can address."""
        given = self.model_fields_set
        names = [n for n in type(self).model_fields if n in given]
        names += [n for n in (self.model_extra or {}) if n not in names]
        return {name: getattr(self, name) for name in names}

    def update(self, values: Mapping[str, Any]) -> None:
        """Set several fields by name (validated; an undeclared name becomes an extra field,
        which the result writer refuses)."""
        for name, value in values.items():
            setattr(self, name, value)


# -- metrics ------------------------------------------------------------------------------------
class EntityTypeScores(Block):
    """NER scores of one entity type (strict IOB2 span matching), 0-1."""

    precision: Number = None
    """Correct predicted spans of the type / predicted spans of the type."""
    recall: Number = None
    """Correct predicted spans of the type / reference spans of the type."""
    f1: Number = None
    """Harmonic mean of precision and recall."""
    support: Count | None = None
    """Reference spans of the type."""


class MetricValue(Block):
    """One metric of one (model, task): its value with a bootstrap 95% interval."""

    value: Number
    """The metric on all the task's examples, on its ``scale``; null when undefined (e.g. a
    correlation of constant predictions)."""
    ci_low: Number
    """Lower end of the 95% bootstrap interval (percentile method, resampling examples);
    null when it cannot be formed (fewer than two examples, no resamples)."""
    ci_high: Number
    """Upper end of the 95% bootstrap interval."""
    signature: str | None = None
    """BLEU and chrF: sacrebleu's signature of the settings (tokenizer, smoothing, version);
    ROUGE: its tokenizer and stemmer; BERTScore and COMET: the scoring model, its weights'
    hash, the settings (BERTScore's layer and idf) and the library versions."""
    model: str | None = None
    """Model-based metrics (BERTScore, COMET): the scoring model (hub id or local folder)."""
    layer: int | None = None
    """BERTScore: the encoder layer whose token states are matched."""
    precision: Number = None
    """BERTScore: the mean precision (each prediction token's best cosine with a reference
    token), beside the F1 that is ``value``; no interval."""
    recall: Number = None
    """BERTScore: the mean recall (each reference token's best cosine with a prediction
    token); no interval."""
    per_type: dict[str, EntityTypeScores] | None = None
    """NER precision/recall/F1: the scores per entity type (a type only predicted, never in
    the references, has zeros)."""
    scale: Scale | None = None
    """The range of ``value``: ``0-1``, ``0-100`` or ``-1-1`` (see :class:`Scale`)."""


# -- efficiency ---------------------------------------------------------------------------------
class Percentiles(Block):
    """Percentiles of a time, in milliseconds."""

    p50: Number = None
    """Median, ms."""
    p90: Number = None
    """90th percentile, ms."""
    p99: Number = None
    """99th percentile, ms."""


class Bs1Latency(Percentiles):
    """Profile mode: milliseconds per call with one example, over ``n`` calls."""

    p50: Number
    """Median, ms."""
    p90: Number
    """90th percentile, ms."""
    p99: Number
    """99th percentile, ms."""
    mean: Number = None
    """Mean, ms."""
    n: int = Field(ge=1)
    """Timed calls (``--profile-repeats``), after one untimed warm-up call."""


class SweepPoint(Block):
    """Profile mode: one batch size of the throughput sweep (examples of median length)."""

    batch_size: int = Field(ge=1)
    """Examples per call."""
    examples_per_s: Number
    """batch_size / the median time of the timed calls."""
    latency_ms: Number = None
    """Median time of one call at this batch size, ms."""
    calls: Count | None = None
    """Timed calls (1 to 5, after one untimed warm-up call)."""
    peak_memory_mb: Number
    """Peak memory of these calls, MiB (see ``memory_source``)."""
    memory_source: MemorySource | None = None
    """How ``peak_memory_mb`` was measured (as in the efficiency block)."""
    memory_increase_mb: Number = None
    """``peak_memory_mb`` minus the memory in use before these calls, MiB."""


class Profile(Block):
    """Profile mode settings and why the sweep stopped (or why the profile failed)."""

    mode: str | None = None
    """The profile: ``latency``."""
    repeats: Count | None = None
    """Batch-size-1 calls timed."""
    bs1_examples: Count | None = None
    """Distinct examples the batch-size-1 calls cycle over (spread over the length range)."""
    max_batch: Count | None = None
    """Largest batch size the sweep may reach (``--profile-max-batch`` or the task size)."""
    stopped: str | None = None
    """Why the sweep stopped: ``max_batch``, ``task_size``, ``time_budget``, ``out_of_memory
    at batch size N`` or ``no examples``."""
    seconds: Number = None
    """Wall-clock seconds the profile took."""
    status: ProbeState | None = None
    """``failed`` when the profile raised (the record is kept)."""
    reason: str | None = None
    """The error, when ``status`` is ``failed``."""


class BatchBudget(Block):
    """What one forward pass may hold with ``batch_size=auto`` (``hf`` models), sized once
    per task (:mod:`evalsuite.models.hf.budget`); halved per ``oom_splits``."""

    tokens: Count
    """Padded tokens (input plus, for generation, new tokens) per forward pass."""
    rows: Count | None = None
    """Examples per forward pass at most (option ``batch_size``, else 256)."""
    source: Literal["option", "free_memory", "default", "memory_budget"]
    """``option``: the model's ``token_budget``; ``free_memory``: from the GPU memory free
    when the task started and the model's size; ``default``: the fixed CPU budget (16,384),
    or the GPU one (65,536) when the free memory could not be read; ``memory_budget``: a
    language model's batches are planned in bytes (``memory_mb``), ``tokens`` is nominal."""
    free_memory_mb: Number = None
    """``free_memory`` only: memory this process could still allocate on the GPU, MiB."""
    bytes_per_token: Count | None = None
    """``free_memory`` only: estimated activation bytes per padded token."""
    memory_mb: Number = None
    """``memory_budget`` only: the bytes a batch may take, MiB (option ``memory_budget``,
    else half the memory this process can still allocate on the GPU after loading, or 128
    on the CPU)."""


class EfficiencyFigures(Block):
    """What the efficiency meter measures over the timed batches of one (model, task)
    (:mod:`evalsuite.efficiency.meter`; docs/efficiency.md).  A figure that could not be
    measured is null or absent, never a made-up zero."""

    n_timed: Count | None = None
    """Examples predicted in the timed batches (warm-up excluded)."""
    examples_per_s: Number = None
    """``n_timed / wall_s``, examples per second."""
    tokens_per_s: Number = None
    """Input tokens (as the model saw them: truncated, unpadded) per second of ``wall_s``;
    null when the adapter cannot count tokens."""
    input_tokens: Count | None = None
    """Input tokens of the timed batches."""
    latency_ms: Percentiles | None = None
    """Time per batch, ms (null when no batch ran)."""
    latency_per_example_ms: Percentiles | None = None
    """Batch time / batch size, one value per example, ms."""
    peak_memory_mb: Number = None
    """Peak memory during the task, MiB: the CUDA allocator's peak (reset when the task
    starts), or the process's peak resident set size during the task (see
    ``memory_source``)."""
    memory_source: MemorySource | None = None
    """``cuda_allocator``; ``rss_maxrss``: ``ru_maxrss`` rose during the task (exact);
    ``rss_sampled``: the highest RSS sample (every 10 ms and at each batch), a lower bound;
    ``rss_maxrss_lifetime``: no ``/proc``, the process's lifetime peak."""
    memory_increase_mb: Number = None
    """``peak_memory_mb`` minus the memory in use when the task started, MiB."""
    model_memory_mb: Number = None
    """Memory the model accounts for (weights plus working memory), MiB:
    ``peak_memory_mb`` minus ``memory_before_load_mb``.  Without Python and the libraries
    the process had loaded (a lexicon scorer's 650 MB process peak is mostly torch)."""
    memory_before_load_mb: Number = None
    """What the process held just before the model was loaded, MiB: CUDA allocations (with
    ``memory_source: cuda_allocator``) or the resident set size."""
    load_s: Number = None
    """Seconds to load the model (once per model; repeated in each of its records)."""
    params: Count | None = None
    """Parameters of the model (null when unknown, e.g. a remote endpoint)."""
    weight_bytes: Count | None = None
    """Bytes of parameters and buffers as loaded (int8: the packed weights)."""
    device: str | None = None
    """Where the model ran: ``cpu``, ``cuda:0``, ``remote``…"""
    dtype: str | None = None
    """Numeric precision the weights ran in (``float32``, ``bfloat16``, ``int8``…)."""
    quantization: str | None = None
    """How ``int8`` weights were made (two techniques, not comparable): ``torch-dynamic-int8``
    (torch.ao dynamic quantization of the Linear layers, on the CPU) or
    ``bitsandbytes-llm-int8`` (bitsandbytes LLM.int8, on a GPU); absent for other dtypes."""
    batch_budget: BatchBudget | None = None
    """``hf`` models: the token budget of the forward passes and where it came from."""
    batch_size: Count | None = None
    """Largest batch run."""
    mean_batch_size: Number = None
    """Mean examples per timed batch."""
    oom_splits: Count | None = None
    """Batches that ran out of memory and were split in halves."""
    wall_s: Number = None
    """Seconds: the sum of the timed batches (under Ray: first shard to last)."""
    warmup_batches: Count | None = None
    """Untimed warm-up batches run before the timed ones."""
    warmup_s: Number = None
    """Seconds of the warm-up batches (not in ``wall_s``)."""
    split_s: dict[str, Number] | None = None
    """Seconds per phase: ``tokenize``, ``transfer``, ``forward``, ``decode`` (and other
    phases the adapter reports), ``predict_other`` (the rest of the timed batches; these sum
    to ``wall_s``, under Ray to ``busy_s``), then ``metrics`` (scoring) and ``write`` (the
    predictions file)."""
    device_name: str | None = None
    """The GPU's or the CPU's model name."""
    oom_lost_s: Number = None
    """Seconds of batches that ran out of memory and were split (not in ``wall_s``)."""
    overlapped_s: dict[str, Number] | None = None
    """Seconds per phase of work done in a background thread while batches computed
    (prefetch tokenization); not part of ``wall_s``."""
    energy_j: Number = None
    """Joules over the timed batches: NVML's total-energy counter of the whole GPU (other
    processes on it included); absent without NVML."""
    energy_per_example_j: Number = None
    """``energy_j / n_timed``, joules."""
    notes: list[str] | None = None
    """Caveats about the measurement (e.g. float16 on a CPU)."""
    threads: Count | None = None
    """torch's intra-op threads in the process that measured (``--threads``; under Ray the
    replica's, from its ``num_cpus``); null when torch was not loaded.  Models that do not
    run on torch are not affected by it.  Compare timings only at equal ``threads``."""


class ReplicaEfficiency(EfficiencyFigures):
    """Ray executor: what one replica measured over its shards of the task (``wall_s``: its
    own busy time)."""

    replica: Count | None = None
    """The replica's index among the model's replicas."""
    node: str | None = None
    """IP address of the node the replica ran on."""
    pid: int | None = None
    """The replica's process id."""


class Efficiency(EfficiencyFigures):
    """The ``efficiency`` block of a record: the meter's figures, where they come from, the
    latency profile, generation and request figures, and the Ray executor's aggregate."""

    source: Literal["measured", "cache"] | None = None
    """``measured`` in this run, or ``cache``: every prediction came from the prediction
    cache and the figures are those measured when they were computed."""
    latency_bs1_ms: Bs1Latency | None = None
    """Profile mode (``--profile latency``): latency with one example per call."""
    sweep: list[SweepPoint] | None = None
    """Profile mode: throughput and peak memory per batch size 1, 2, 4, …"""
    profile: Profile | None = None
    """Profile mode settings and why the sweep stopped (or why it failed)."""
    generated_tokens: Count | None = None
    """Generative heads: tokens generated over all the task's examples."""
    hit_length_limit_rate: Number = None
    """Generative heads: share of outputs (0-1) that stopped at the length limit."""
    generated_tokens_per_s: Number = None
    """Generative heads: tokens generated in this run's timed batches per second of
    ``wall_s`` (absent when every output came from the cache)."""
    request_latency_ms: Percentiles | None = None
    """Endpoints (``http``): client-side time per request, ms."""
    ttft_ms: Percentiles | None = None
    """Streaming endpoints: time to the first token, ms."""
    retries: Count | None = None
    """Endpoints: requests retried (rate limits, server errors)."""
    variants_on_other_devices: dict[str, str] | None = None
    """Precision variants only: the sibling variants (model name → device) that ran this
    task on another device than this one (e.g. ``int8`` on the CPU, ``bf16`` on a GPU), so
    their costs are not comparable; absent when every variant ran on the same device."""
    busy_s: Number = None
    """Ray executor: seconds the replicas spent in timed batches, summed over replicas."""
    replicas: Count | None = None
    """Ray executor: replicas that served the task."""
    per_replica: list[ReplicaEfficiency] | None = None
    """Ray executor: each replica's own figures."""

    @classmethod
    def from_cache(cls, block: Mapping[str, Any] | None) -> Efficiency:
        """The block kept in the prediction cache, marked ``source: cache``; fields this
        version does not declare (a cache written by another version) are dropped."""
        declared = {k: v for k, v in (block or {}).items() if k in cls.model_fields}
        efficiency = cls.model_validate(declared)
        efficiency.source = "cache"
        return efficiency


# -- probes -------------------------------------------------------------------------------------
class ProbeStatus(Block):
    """A probe figure that could not be computed: why, never a zero."""

    status: ProbeState | None = None
    """``not_applicable`` (the probe does not apply to this task or model) or ``failed``
    (it raised; the task is kept).  Absent on a computed figure."""
    reason: str | None = None
    """Why, in one line."""


class ProbeOutcome(Block):
    """``probe_status.<probe>``: how one requested probe went, summed up over its figures."""

    status: Literal["ok", "failed", "not_applicable"]
    """``ok`` (every figure that applies was computed); ``failed`` (a figure that applies
    could not be computed, e.g. its classifier is not installed: the report shows the
    dimension as not measured rather than a value from the figures left); ``not_applicable``
    (no figure applies to this task)."""
    reason: str | None = None
    """Why (``failed``: the first failing figure and its error), in one line."""


class BiasFigure(ProbeStatus):
    """``bias.<probe>``: how much an output moves when only the group a text mentions
    changes (docs/probes.md).  Keys: counterfactual swaps by axis (``gender``,
    ``names_gender``, ``names_origin``, ``nationality``, ``religion``, ``age``,
    ``disability``) and probe-card sets ``<card key>_<axis or test>``."""

    max_gap: Number = None
    """Highest minus lowest group value (≥ 0), on ``scale``."""
    ci_low: Number = None
    """Lower end of the bootstrap 95% interval of ``max_gap`` (units resampled, pairing
    kept)."""
    ci_high: Number = None
    """Upper end of that interval."""
    p_value: Share = None
    """Permutation test of "the group does not matter" (group labels shuffled within
    units); WEAT: two-sided over re-partitions of the target words."""
    effect_size: Number = None
    """Cohen's d between the highest and the lowest group (WEAT effect size for association
    tests); null when the values have no spread."""
    effect_size_ci_low: Number = None
    """WEAT: lower end of the bootstrap 95% interval of ``effect_size``."""
    effect_size_ci_high: Number = None
    """WEAT: upper end of that interval."""
    groups: dict[str, Number] | None = None
    """The measure per group, on ``scale``."""
    n: Count | None = None
    """Units: examples or template fillings (target words for WEAT)."""
    highest: str | None = None
    """The group with the highest value (absent when all are equal)."""
    lowest: str | None = None
    """The group with the lowest value."""
    null_gap_95: Number = None
    """95th percentile of the gaps with shuffled group labels: how large a gap noise alone
    makes."""
    scale: str | None = None
    """Range of the group values and ``max_gap``: a :class:`Scale` value (``0-1`` unless the
    measure is a metric quoted otherwise, e.g. ``0-100`` for SQuAD F1), or ``LO-HI`` of a
    similarity card's score range (e.g. ``0-5``)."""
    measure: str | None = None
    """What the group value is, e.g. ``mean p(positive)``, ``person-entity F1``."""
    flip_rate: Number = None
    """Sentiment: share of units (0-1) whose predicted label differs between groups."""
    flip_rate_ci_low: Number = None
    """Bootstrap 95% interval of ``flip_rate``, lower end."""
    flip_rate_ci_high: Number = None
    """Upper end."""
    accuracy: dict[str, Number] | None = None
    """Sentiment with gold labels: accuracy (0-1) per group."""
    mean_shift: Number = None
    """Similarity: mean over units of the largest score change from the original pair, on
    the card's score range."""
    mean_shift_ci_low: Number = None
    """Bootstrap 95% interval of ``mean_shift``, lower end."""
    mean_shift_ci_high: Number = None
    """Upper end."""
    mean_shift_share_of_range: Number = None
    """``mean_shift`` divided by the width of the score range (0-1)."""
    change_rate: Number = None
    """QA, translation, summarization: share of units (0-1) whose output differs beyond the
    swapped terms."""
    change_rate_ci_low: Number = None
    """Bootstrap 95% interval of ``change_rate``, lower end."""
    change_rate_ci_high: Number = None
    """Upper end."""
    coverage: Number = None
    """Occupation gender (translation): share of outputs (0-1) in which the occupation
    noun's gender could be read."""
    language: str | None = None
    """Occupation gender: the target language of the lexicon used."""
    source: str | None = None
    """Where the inputs came from: ``task examples`` or ``probe card NAME``."""
    sentences: Count | None = None
    """Probe cards: sentences generated, all groups together (after sampling to the probe's
    ``budget``)."""
    sentences_full: Count | None = None
    """Probe cards: sentences of the whole set, all groups together (what ``budget=full``
    runs); more than ``sentences`` when the set was sampled to the budget."""
    words: Count | None = None
    """WEAT/SEAT: target and attribute words used (after sampling to the probe's
    ``budget``)."""
    words_full: Count | None = None
    """WEAT/SEAT: words of the whole test."""
    method: str | None = None
    """WEAT/SEAT: how associations were computed (embeddings or rescaled pair scores)."""
    targets: list[str] | None = None
    """WEAT/SEAT: the two target word sets (X, Y)."""
    attributes: list[str] | None = None
    """WEAT/SEAT: the two attribute word sets (A, B)."""
    template: str | None = None
    """WEAT/SEAT: the sentence template the words were put in."""


class Calibration(Block):
    """How a toxicity classifier's threshold was chosen: the best F1 on evalsuite's labelled
    calibration set."""

    threshold: Number = None
    """The score threshold with the best F1."""
    f1: Number = None
    """F1 (0-1) at that threshold."""
    precision: Number = None
    """Precision (0-1) at that threshold."""
    recall: Number = None
    """Recall (0-1) at that threshold."""
    n: Count | None = None
    """Sentences in the calibration set."""
    set: str | None = None
    """Which set, with its toxic and clean sentence counts."""


class SafetyFigure(ProbeStatus):
    """``safety.<probe>``: ``toxicity``, ``amplification``, ``pii_leakage`` and ``<card
    key>`` of safety probe cards; rates are shares of outputs (0-1) and every figure names
    its classifier and threshold."""

    rate: Share = None
    """Share of outputs (0-1) flagged: toxic (score ≥ threshold), amplified, or leaking
    personal data."""
    ci_low: Number = None
    """Lower end of the bootstrap 95% interval of ``rate``."""
    ci_high: Number = None
    """Upper end of that interval."""
    classifier: str | None = None
    """The classifier or detector that produced the figure (name and version)."""
    threshold: Number = None
    """Score threshold (calibrated unless set with ``threshold=``); null for the personal
    data detector."""
    calibration: Calibration | None = None
    """How the threshold was calibrated (null when the classifier could not load)."""
    n: Count | None = None
    """Outputs scored."""
    input_rate: Number = None
    """The same share for the inputs, for context (0-1)."""
    mean_score: Number = None
    """Toxicity: mean classifier score of the outputs (0-1)."""
    margin: Number = None
    """Amplification: how much more toxic than its input an output must be (score
    difference)."""
    mean_delta: Number = None
    """Amplification: mean output score minus input score."""
    by_type: dict[str, Count] | None = None
    """Personal data: outputs leaking each kind (``email``, ``phone``, ``card``)."""
    source: str | None = None
    """Probe cards: ``probe card NAME``."""
    note: str | None = None
    """Probe cards: why toxicity was not measured."""
    n_full: Count | None = None
    """Probe cards: inputs of the whole card (``n`` of them were sampled to the probe's
    ``budget``)."""
    pii_leakage_rate: Number = None
    """Probe cards: share of outputs (0-1) leaking personal data their input lacks."""
    pii_leakage_ci_low: Number = None
    """Bootstrap 95% interval of ``pii_leakage_rate``, lower end."""
    pii_leakage_ci_high: Number = None
    """Upper end."""
    amplification_rate: Number = None
    """Probe cards: share of outputs (0-1) toxic and ``margin`` more toxic than the input."""
    amplification_ci_low: Number = None
    """Bootstrap 95% interval of ``amplification_rate``, lower end."""
    amplification_ci_high: Number = None
    """Upper end."""


class RobustnessFigure(ProbeStatus):
    """``robustness.<perturbation>`` (``typo``, ``casing``, ``punctuation``, ``whitespace``,
    ``contractions``, ``entity_swap``): the task's primary metric on perturbed and clean
    inputs of the same seeded sample."""

    score: Number = None
    """The primary metric on the perturbed sample, on ``scale``."""
    clean_score: Number = None
    """The primary metric on the same sample unperturbed, on ``scale``."""
    retention: Number = None
    """``score / clean_score`` (1 = unaffected); null when ``clean_score`` is 0."""
    ci_low: Number = None
    """Lower end of the paired bootstrap 95% interval of ``retention``."""
    ci_high: Number = None
    """Upper end of that interval."""
    flip_rate: Share = None
    """Share of examples (0-1) whose output changed (label, tags, normalised answer, text,
    or a similarity score moved by more than 10% of the score range)."""
    flip_rate_ci_low: Number = None
    """Bootstrap 95% interval of ``flip_rate``, lower end."""
    flip_rate_ci_high: Number = None
    """Upper end."""
    n: Count | None = None
    """Examples in the sample."""
    n_changed: Count | None = None
    """Examples the perturbation changed (the others reuse the clean output)."""
    metric: str | None = None
    """The primary metric's name."""
    scale: Scale | None = None
    """The primary metric's scale."""


PROBE_FIGURES: dict[str, type[ProbeStatus]] = {
    Section.BIAS.value: BiasFigure, Section.SAFETY.value: SafetyFigure,
    Section.ROBUSTNESS.value: RobustnessFigure}
"""The figure model of each probe section."""


class ProbeCost(Block):
    """What the probes of one (model, task) cost, per probe category (``clean``, ``bias``,
    ``safety``, ``robustness``)."""

    task_examples: Count | None = None
    """Examples of the task."""
    predicted: dict[str, Count] | None = None
    """Examples sent to the predictor per category (unchanged variants reuse outputs)."""
    computed: dict[str, Count] | None = None
    """Of those, examples not found in the prediction cache."""
    embedded_texts: dict[str, Count] | None = None
    """Texts embedded with the adapter's ``embed`` per category (WEAT/SEAT)."""
    seconds: dict[str, Number] | None = None
    """Wall-clock seconds per probe."""
    prediction_seconds: dict[str, Number] | None = None
    """Seconds spent predicting per category."""
    multiple: Number = None
    """Probe predictions / task examples (``clean`` excluded)."""
    budget: dict[str, Count | Literal["full"]] | None = None
    """Per probe that samples template sets (``bias``, ``safety``): the predictions allowed
    per set, by default the task's examples; ``full``: the whole sets (``budget=full``)."""


# -- generalisation -------------------------------------------------------------------------------
class Generalisation(ProbeStatus):
    """``generalisation`` of a suite variant's record: how much of the model's primary metric
    on the suite's reference task survives on this shifted task (another domain or language;
    docs/generalisation.md).  Retention and gap come from the stored per-example statistics,
    with bootstrap 95% intervals, paired over shared example ids when the suite is parallel.
    ``status``/``reason`` instead when it could not be computed."""

    suite: str | None = None
    """The suite's name."""
    reference_task: str | None = None
    """The suite's reference task."""
    metric: str | None = None
    """The primary metric compared (the same for reference and variant)."""
    reference_value: Number = None
    """The metric on the reference task, on the metric's scale."""
    value: Number = None
    """The metric on this variant task, on the metric's scale."""
    retention: Number = None
    """value / reference_value (1 = nothing lost; turned round when lower is better); null
    when the reference score is not positive or the model does not beat chance on it (see
    ``retention_reason``)."""
    ci_low: Number = None
    """Lower end of the bootstrap 95% interval of ``retention``."""
    ci_high: Number = None
    """Upper end of that interval."""
    gap: Number = None
    """reference_value − value in the metric's units, positive when the variant is worse."""
    gap_ci_low: Number = None
    """Lower end of the bootstrap 95% interval of ``gap``."""
    gap_ci_high: Number = None
    """Upper end of that interval."""
    p_value: Share = None
    """Two-sided bootstrap p-value of "no gap"."""
    paired: bool | None = None
    """Whether the intervals resample the same examples for both tasks."""
    pairing: str | None = None
    """How the examples were drawn, in words."""
    n_reference: Count | None = None
    """Examples of the reference record."""
    n_variant: Count | None = None
    """Examples of this record."""
    language: str | None = None
    """This record's language."""
    reference_language: str | None = None
    """The reference record's language."""
    domain: str | None = None
    """This record's domain."""
    reference_domain: str | None = None
    """The reference record's domain."""
    shift: str | None = None
    """What changed from the reference: ``language``, ``domain``, ``language+domain`` or
    ``dataset``."""
    beats_chance: bool | None = None
    """Whether the model beats chance on the reference task (null when the reference record
    has no ``chance`` block)."""
    retention_reason: str | None = None
    """Why ``retention`` is null."""
    resamples: Count | None = None
    """Bootstrap resamples of the intervals."""


# -- chance -------------------------------------------------------------------------------------
class Chance(Block):
    """``chance``: the task's trivial baseline scored on the same examples with the primary
    metric (:mod:`evalsuite.metrics.chance`; docs/report.md), and whether the model beats it.
    Baselines: majority class (sentiment), all ``O`` (NER), the source copied (translation),
    lead-3 (summarization), the empty answer (QA), a constant score (similarity)."""

    baseline: str | None = None
    """The baseline's name, e.g. ``majority class (negative)``, ``lead-3``."""
    metric: str | None = None
    """The primary metric both are scored with."""
    value: Number = None
    """The baseline's value of the primary metric, on the metric's scale (0 for a
    correlation: a constant prediction has none)."""
    ci_low: Number = None
    """Lower end of the baseline's 95% bootstrap interval (null for a correlation)."""
    ci_high: Number = None
    """Upper end of that interval."""
    beats_chance: bool | None = None
    """True when the model is better than the baseline by a one-sided paired test at
    ``alpha``; null when no test is possible (``note`` says why)."""
    p_value: Share = None
    """One-sided p-value of "the model is better than the baseline"."""
    test: str | None = None
    """``permutation`` (paired approximate randomisation of the corpus metric), or
    ``pearson_greater`` / ``spearman_greater`` (one-sided test of correlation > 0)."""
    alpha: Number = None
    """Level of the test (0.05)."""
    delta: Number = None
    """Model minus baseline on the primary metric (for a correlation: the model's)."""
    note: str | None = None
    """Why ``beats_chance`` is null, or a remark (a model with constant scores)."""


# -- the record ---------------------------------------------------------------------------------
class ModelIdentity(Block):
    """What makes two runs of "the same model" comparable and cacheable."""

    kind: str | None = None
    """The model kind (``hf``, ``st``, ``cmd``, ``http``…)."""
    target: str | None = None
    """Hub id, folder, command or URL."""
    revision: str | None = None
    """Hub revision asked for (null: the default branch)."""
    fingerprint: str | None = None
    """Hash of the weights (or of the command, endpoint, predictions file)."""
    options: dict[str, Any] | None = None
    """Spec options that change outputs (dtype, max_length, generation settings…)."""


class DataFile(Block):
    """One local data file of a dataset."""

    path: str
    """The file, relative to the card's folder."""
    sha256: str
    """SHA-256 of its bytes."""


class DuplicateIds(Block):
    """Repeated example ids and what the card's ``dedupe`` rule did with them."""

    rows: Count
    """Rows dropped (``first``) or renamed ``id#1``, ``id#2``… (``suffix``)."""
    dedupe: Literal["first", "suffix"]
    """The card's rule."""


class DatasetInfo(Block):
    """Where a task's examples came from and which were evaluated."""

    path: str | None = None
    """The card's ``dataset.path``: a hub id or a file/folder relative to the card."""
    name: str | None = None
    """Dataset configuration."""
    split: str | None = None
    """Split evaluated."""
    revision: str | None = None
    """Hub revision."""
    source: Literal["local", "hub"] | None = None
    """Loaded from a local file/folder or from the hub."""
    content_sha256: str | None = None
    """SHA-256 of a local data file's bytes (several files, ``data_files``: of their
    ``sha256sum``-style listing, ``<sha256>  <path>`` per line)."""
    data_files: list[DataFile] | None = None
    """Local files a file builder read (``path: json|csv|parquet|…`` with ``data_files``),
    each with its SHA-256."""
    fingerprint: str | None = None
    """The datasets library's fingerprint (for local files it depends on path and time)."""
    n_total: Count | None = None
    """Rows in the split."""
    n_selected: Count | None = None
    """Rows evaluated (after ``--limit``/``--sample``)."""
    limit: int | None = None
    """``--limit``: the first N rows."""
    sample: int | None = None
    """``--sample``: a seeded sample of N rows."""
    seed: int | None = None
    """Seed of the sample (null without ``--sample``)."""
    duplicate_ids: DuplicateIds | None = None
    """Rows whose id repeated an earlier row's, and the card's ``dedupe`` rule that handled
    them (absent when every id is unique; without a rule repeated ids are refused)."""


class CacheCounts(Block):
    """Prediction cache use of one record."""

    hits: Count
    """Examples whose output came from the cache."""
    computed: Count
    """Examples predicted in this run."""
    rejected: Count | None = None
    """Cached rows not used and predicted again: undecodable, stored for another request
    (scope or example id differ), or a prediction the task cannot accept (a label outside the
    card's set).  Absent when none."""


class RetriedShard(Block):
    """Ray executor: a shard that went to another replica after its replica died."""

    shard: Count | None = None
    """Index of the shard within the task."""
    examples: Count | None = None
    """Examples in the shard."""
    attempt: Count | None = None
    """Which attempt failed (1 = the first)."""
    replica: Count | None = None
    """The replica that died."""
    reason: str | None = None
    """What Ray reported."""
    done_by_replica: Count | None = None
    """The replica that finished the shard."""


class RecordExecutor(Block):
    """Ray executor: how a record's work was split and what was retried."""

    kind: str
    """The executor: ``ray``."""
    replicas: Count | None = None
    """Replicas of the model."""
    shards: Count | None = None
    """Shards the task's uncached examples were cut into."""
    retried_shards: list[RetriedShard] | None = None
    """Shards retried after a replica died."""


class Record(Block):
    """One (model, task): what ran, on what data, and every figure."""

    variant_of: str | None = None
    """Precision variants (batch file ``variants: [float32, bfloat16, int8]``): the display
    name of the entry this record's model was expanded from (``NAME@bf16`` → ``NAME``);
    linked variants share ``model_identity.target`` and differ in ``efficiency.dtype``."""
    model: str
    """Display name of the model, unique within a run."""
    model_spec: str | None = None
    """The model spec as given (``KIND:TARGET?key=value…``)."""
    model_kind: str | None = None
    """The model kind."""
    model_identity: ModelIdentity | None = None
    """Kind, target, revision, weight fingerprint and output-changing options."""
    task: str
    """Task name, e.g. ``sentiment/sst2``."""
    family: Family
    """The task family."""
    task_version: str | None = None
    """Card version + hash of the card."""
    smoke_set: bool | None = None
    """Whether the task is a small smoke set (not for conclusions)."""
    language: str | None = None
    """Language of the compared texts (the output language of translation), as the card
    names it (BCP 47); absent when the card names none."""
    source_language: str | None = None
    """Translation: the source language."""
    domain: str | None = None
    """The card's domain (e.g. ``movie reviews``, ``news``); absent when it names none."""
    resource_level: Literal["high", "mid", "low"] | None = None
    """How well resourced the card's language is (translation: its less-resourced language),
    as the card's author judges it; absent when the card does not say."""
    dataset: DatasetInfo | None = None
    """Where the examples came from."""
    status: Literal["ok", "skipped", "failed"]
    """``ok``; ``skipped`` (the backend is not installed); ``failed`` (an error; the other
    records are kept)."""
    reason: str | None = None
    """Why a record was skipped or failed."""
    n_examples: Count
    """Examples evaluated (0 for skipped and failed records)."""
    primary_metric: str | None = None
    """The card's first metric: the one the report ranks by."""
    metrics: dict[str, MetricValue]
    """Metric name → value with its interval and scale (empty unless ``ok``)."""
    chance: Chance | None = None
    """The task's trivial baseline on the same examples and whether the model beats it."""
    efficiency: Efficiency | None = None
    """Throughput, latency, memory and load figures (docs/efficiency.md); null for fixed
    outputs (a predictions file): nothing ran, so there is no cost."""
    settings: dict[str, Any] | None = None
    """Adapter settings that change outputs for this task (prompt, generation…)."""
    cache: CacheCounts | None = None
    """Prediction cache hits and computed examples."""
    truncated: Count | None = None
    """Examples whose input the model truncated to its maximum length."""
    shots_dropped: Count | None = None
    """Examples shown fewer demonstrations than ``settings.shots``: the earliest were dropped
    so the prompt fits the model's context (``meta.shots_dropped`` in their rows); absent
    when none were."""
    predictions_file: RunPath = None
    """Per-example JSONL, relative to the run folder: score (first, so rows can be ranked
    without parsing them), id, input, prediction, reference, stats (per-metric statistics),
    chance_stats (the chance baseline's statistics of the primary metric), and scores/meta
    when the model gave them."""
    predictions_sha256: str | None = None
    """SHA-256 of the predictions file as written: ``evalsuite verify`` (and the gate)
    refuse a file that changed since."""
    warnings: list[str] | None = None
    """Problems that did not stop the task, one line each (e.g. ids of a predictions file
    that the task does not have)."""
    secrets_scrubbed: Count | None = None
    """``http`` models: answers in which the endpoint echoed the API key; its value was
    replaced by ``***`` before anything was parsed or stored.  Absent when none."""
    bias: dict[str, BiasFigure] | None = None
    """Probe → bias figure (``--probes bias``)."""
    safety: dict[str, SafetyFigure] | None = None
    """Probe → safety figure (``--probes safety``)."""
    robustness: dict[str, RobustnessFigure] | None = None
    """Perturbation → robustness figure (``--probes robustness``)."""
    probe_cost: ProbeCost | None = None
    """What the probes cost."""
    probe_status: dict[str, ProbeOutcome] | None = None
    """Probe name → how it went (``--probes``): never a silent drop."""
    generalisation: Generalisation | None = None
    """Suite variants (``--suite``): retention and gap against the suite's reference task."""
    executor: RecordExecutor | None = None
    """Ray executor: replicas, shards and retried shards."""

    @property
    def key(self) -> tuple[str, str]:
        """``(model, task)``: a record's identity within a run."""
        return self.model, self.task

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def section(self, name: str) -> Any:
        """The block of section ``name`` (one of :data:`SECTIONS`), ``None`` when absent."""
        if name not in SECTIONS:
            raise KeyError(f"unknown section {name!r} (one of {', '.join(SECTIONS)})")
        return getattr(self, name)

    def sections(self) -> dict[str, Any]:
        """The sections the record has (non-empty), by name."""
        return {name: block for name in SECTIONS if (block := getattr(self, name))}


# -- the run and the file -----------------------------------------------------------------------
class Gpu(Block):
    """One GPU of the machine."""

    name: str | None = None
    """Model name."""
    memory_gb: Number = None
    """Total memory, GiB."""


class Hardware(Block):
    """The machine the run ran on."""

    platform: str | None = None
    """Operating system and kernel."""
    machine: str | None = None
    """Processor architecture."""
    cpu_count: Count | None = None
    """Logical CPUs."""
    python: str | None = None
    """Python version."""
    memory_gb: Number = None
    """Total memory, GiB."""
    torch_threads: Count | None = None
    """Torch's intra-op threads."""
    gpus: list[Gpu] | None = None
    """CUDA GPUs visible to the run."""
    cuda: str | None = None
    """CUDA version torch was built with."""


class SuiteInfo(Block):
    """A suite the run was asked for (``--suite``): a reference task and shifted variants."""

    name: str
    """The suite's name."""
    reference: str | None = None
    """The reference task."""
    variants: list[str] | None = None
    """The variant tasks."""
    parallel: bool | None = None
    """Whether the tasks hold the same examples (by id) in every variant."""


class RunExecutor(Block):
    """Ray executor: the cluster a run used."""

    kind: str
    """The executor: ``ray``."""
    address: str | None = None
    """``--address`` or ``local``."""
    ray_version: str | None = None
    """Ray's version."""
    nodes: Count | None = None
    """Live nodes when the run started."""
    cluster_resources: dict[str, Number] | None = None
    """CPUs and GPUs of the cluster."""


class RunInfo(Block):
    """Run metadata: what ran, where, with what."""

    id: str
    """Run id: the run folder's name."""
    created: str
    """When the run started: ISO 8601 time, UTC."""
    evalsuite_version: str
    """The evalsuite version that wrote the file."""
    config_hash: str
    """Hash of the models, tasks and settings that change figures."""
    source: str | None = None
    """The batch file or command line."""
    seed: int | None = None
    """Seed of sampling, bootstrap and probes."""
    limit: int | None = None
    """``--limit``."""
    sample: int | None = None
    """``--sample``."""
    resamples: Count | None = None
    """Bootstrap resamples per interval."""
    packages: dict[str, str] | None = None
    """Versions of the packages that affect figures."""
    hardware: Hardware | None = None
    """The machine."""
    git_commit: str | None = None
    """Commit of the evalsuite checkout (``-dirty`` when modified); null outside one."""
    suites: list[SuiteInfo] | None = None
    """The suites whose variants get ``generalisation`` figures."""
    resumed_at: str | None = None
    """When the run was last resumed (``--resume``), ISO 8601 UTC."""
    status: Literal["running", "finished", "interrupted", "failed"] | None = None
    """``running`` while records are being written (left so only by a killed process);
    then ``finished``, ``interrupted`` (Ctrl-C, SIGTERM) or ``failed`` (see ``error``)."""
    error: str | None = None
    """Why a ``failed`` run stopped, in one line (a full disk, a model that could not
    load…); finished records are kept."""
    executor: RunExecutor | None = None
    """Ray executor: the cluster."""
    finished: str | None = None
    """When the run ended, ISO 8601 UTC."""


class ResultDocument(Block):
    """evalsuite result file (``results/<run-id>/results.json``): one evaluation run, its
    metadata and one record per (model, task).  Metric values are on the scale their
    community quotes, stated per metric in ``scale``.  Figures are addressed by dotted paths,
    e.g. ``sentiment/sst2.metrics.accuracy.value``."""

    schema_version: str = Field(pattern=r"^1\.[0-9]+$")
    """``MAJOR.MINOR``: a reader reads every minor version of its major version."""
    run: RunInfo
    """Run metadata."""
    records: list[Record]
    """One record per (model, task), in the batch's order."""


# -- writing checks -----------------------------------------------------------------------------
def undeclared_fields(block: Any, path: str = "") -> Iterator[str]:
    """Dotted paths of the fields in ``block`` (a model, or dicts/lists of them) that no
    model declares (see the module docstring)."""
    if isinstance(block, Block):
        extra = block.model_extra or {}
        for name, value in block.present().items():
            if name in extra:
                yield f"{path}{name}"
            else:
                yield from undeclared_fields(value, f"{path}{name}.")
    elif isinstance(block, Mapping):
        for key, value in block.items():
            yield from undeclared_fields(value, f"{path}{key}.")
    elif isinstance(block, list):
        for i, value in enumerate(block):
            yield from undeclared_fields(value, f"{path}{i}.")


def check_declared(block: Block, what: str = "record") -> None:
    """Refuse a block with fields no model declares (:class:`UndeclaredFieldError`)."""
    extra = list(undeclared_fields(block))
    if extra:
        raise UndeclaredFieldError(
            f"{what} field(s) {', '.join(extra)} are not declared in "
            "evalsuite/results/records.py; declare each with a docstring there")


# -- the JSON Schema ----------------------------------------------------------------------------
def json_schema() -> dict[str, Any]:
    """The JSON Schema of the result file, generated from :class:`ResultDocument`."""
    from pydantic.json_schema import GenerateJsonSchema

    class _NoFieldTitles(GenerateJsonSchema):
        def field_title_should_be_set(self, schema: Any) -> bool:
            return False

    body = ResultDocument.model_json_schema(schema_generator=_NoFieldTitles)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID,
            **_one_line_descriptions(body)}


def _one_line_descriptions(node: Any) -> Any:
    """The schema with each docstring's line breaks folded into spaces."""
    if isinstance(node, dict):
        return {k: " ".join(v.split()) if k == "description" and isinstance(v, str)
                else _one_line_descriptions(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_one_line_descriptions(v) for v in node]
    return node


def schema_text() -> str:
    """The committed schema file's text (indented JSON, one trailing newline)."""
    import json

    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    """``python -m evalsuite.results.records --schema [--write]``: print (or write) the
    generated JSON Schema."""
    import argparse
    import sys

    from evalsuite.results.files import SCHEMA_PATH

    parser = argparse.ArgumentParser(prog="python -m evalsuite.results.records",
                                     description=main.__doc__)
    parser.add_argument("--schema", action="store_true", required=True,
                        help="the JSON Schema of results.json, generated from the models")
    parser.add_argument("--write", action="store_true",
                        help=f"write it to {SCHEMA_PATH} instead of printing it")
    args = parser.parse_args(argv)
    if args.write:
        SCHEMA_PATH.write_text(schema_text(), encoding="utf-8")
    else:
        sys.stdout.write(schema_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
