"""Training configuration as data: one YAML file per recipe, read into these dataclasses.

A YAML file holds a section per stage; anything left out takes the default below, and unknown keys are errors
(a typo should not silently train with defaults).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import yaml


@dataclass(frozen=True)
class OptimConfig:
    """Optimisation of one stage: AdamW with linear warm-up then cosine decay."""

    epochs: int = 10
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.05
    warmup_fraction: float = 0.05
    grad_clip: float = 1.0
    max_steps: int | None = None  # caps the run (tests, smoke runs); None = epochs decide
    ema_decay: float | None = None  # keep an exponential moving average of the weights (generators); None = off
    # Wall-clock budget: after timing its first steps the run shortens its schedule (warm-up and cosine included)
    # to the steps that fit, so a lent GPU's fixed lease ends with a finished schedule, not a cut one.
    max_minutes: float | None = None
    checkpoint_every: int = 1  # epochs between checkpoints (the last is always kept): short epochs on a GPU
    # Fine-tuning only: learning-rate multiplier for an encoder that starts pretrained (a randomly initialised
    # one always trains at the full rate). Full-rate updates from freshly initialised heads distort pretrained
    # features, which costs most on data unlike the training data (Kumar et al., ICLR 2022).
    pretrained_encoder_lr_scale: float = 1.0


@dataclass(frozen=True)
class DataConfig:
    """Where each regime's prepared data lives (training/data/prepared.py), and how to make it when absent.

    Sizes mirror the paper's regimes at CPU scale: a large ECG-only set for pretraining (MIMIC-IV-ECG's role),
    a smaller paired ECG-CMR set for alignment (UK Biobank's), a labelled downstream set, an internal test split
    from the training sites and an external site held out entirely.
    """

    root: str = "data/prepared"
    seed: int = 0
    ecg_only: int = 20000
    paired: int = 4000
    downstream: int = 2000
    internal_test: int = 1000
    external_test: int = 1000
    external_site: str = "boston"
    n_frames: int = 50
    workers: int = 1  # processes simulating and preparing the cohort (one per core is fastest; 0 = one per core)
    # Extra simulated ECG-CMR pairs that only the generator stage trains on (a virtual cohort's data is free; a
    # real paired set has what it has). The encoders never see them, so the generator's conditions on them are
    # like those at test time rather than those of subjects the predictor was fitted on.
    generator_extra: int = 0
    # Simulated ECG-CMR pairs imaged by `scanner_count` scanners drawn from the field's range
    # (cardionets.sim.sites.SCANNER_RANGES), for the scanner adapter (`python -m training scanner-adapter`), which
    # learns what imaging on another scanner changes in a generated cine. Only that adapter trains on them.
    generator_scanners: int = 0
    scanner_count: int = 64


@dataclass(frozen=True)
class ModelSizes:
    """Overrides of the encoders' default sizes (empty = the model files' defaults)."""

    ecg_encoder: dict = field(default_factory=dict)
    cmr_encoder: dict = field(default_factory=dict)
    cine_tokenizer: dict = field(default_factory=dict)
    segmenter: dict = field(default_factory=dict)
    generator: dict = field(default_factory=dict)


@dataclass(frozen=True)
class AlignConfig:
    embedding_dim: int = 256
    temperature: float = 0.05  # as the paper: sharp contrast between the true pair and the rest
    negative_weighting: float = 1.0  # 0 = plain InfoNCE; 1 = negatives down-weighted by CMR similarity
    phenotype_weight: float = 0.5  # weight of the ECG -> phenotype regression term


@dataclass(frozen=True)
class GenerativeEvalConfig:
    """How the generators are scored (training/evaluate_generative.py). Sampling is the slow part, so a subset."""

    subjects: int = 200  # per test split, the first ones: each simulated subject is an independent draw
    seeds: int = 4  # samples per subject: image-derived phenotypes average them and their spread is the uncertainty
    sampler: dict = field(default_factory=dict)  # overrides of cardionets.models.mar_sampler.SamplerSettings
    # training/site_shift.py: new subjects simulated per row (eight rows), and MAR samples per subject
    site_shift_subjects: int = 100
    site_shift_seeds: int = 2


@dataclass(frozen=True)
class TrainConfig:
    name: str = "default"
    output: str = "runs/default"
    seed: int = 0
    device: str | None = None  # None: CUDA if present, else CPU
    num_threads: int | None = None  # torch threads per process on CPU (None: torch's default)
    data: DataConfig = field(default_factory=DataConfig)
    models: ModelSizes = field(default_factory=ModelSizes)
    pretrain_ecg: OptimConfig = field(default_factory=OptimConfig)
    pretrain_cmr: OptimConfig = field(default_factory=OptimConfig)
    align: OptimConfig = field(default_factory=OptimConfig)
    alignment: AlignConfig = field(default_factory=AlignConfig)
    finetune: OptimConfig = field(default_factory=OptimConfig)
    # The CMR-input upper bound's own optimisation (None = as `finetune`): another modality, another encoder.
    finetune_cmr: OptimConfig | None = None
    tokenizer: OptimConfig = field(default_factory=OptimConfig)
    segmenter: OptimConfig = field(default_factory=OptimConfig)
    generator: OptimConfig = field(default_factory=lambda: OptimConfig(ema_decay=0.999))
    regression_decoder: OptimConfig = field(default_factory=OptimConfig)
    scanner_adapter: OptimConfig = field(default_factory=lambda: OptimConfig(epochs=30, batch_size=256, lr=0.002))
    # A saved generator (a bundle's `generator` or a run's `generator/model` folder) that the generator stage goes
    # on training instead of starting a new one: GPU leases are short, so training can add up over several. Its
    # anchor stays the regression decoder, since its residual was learnt around that anchor. None = start afresh.
    generator_start_from: str | None = None
    generative_eval: GenerativeEvalConfig = field(default_factory=GenerativeEvalConfig)
    bootstrap_resamples: int = 1000
    results_dir: str | None = None  # where evaluate writes results.md/.json; None = the run folder


def _build(cls, values: dict | None):
    values = dict(values or {})
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(values) - set(known)
    if unknown:
        raise ValueError(f"unknown settings for {cls.__name__}: {sorted(unknown)}")
    for name, value in values.items():
        field_type = known[name].type
        nested = {"DataConfig": DataConfig, "ModelSizes": ModelSizes, "OptimConfig": OptimConfig,
                  "OptimConfig | None": OptimConfig, "AlignConfig": AlignConfig,
                  "GenerativeEvalConfig": GenerativeEvalConfig}.get(str(field_type))
        if nested is not None and isinstance(value, dict):
            values[name] = _build(nested, value)
    return cls(**values)


def load_config(path: str | Path, overrides: dict | None = None) -> TrainConfig:
    """Read a YAML recipe; ``overrides`` (e.g. {"output": ...}) win over the file."""
    values = _recipe_values(Path(path))
    values.update(overrides or {})
    return _build(TrainConfig, values)


def _recipe_values(path: Path, seen: tuple[Path, ...] = ()) -> dict:
    """A recipe's settings; one with ``base: other.yaml`` (beside it) starts from that recipe's and changes only
    what it states, section by section."""
    if path.resolve() in seen:
        raise ValueError(f"recipe {path} names itself as its base, through {[str(p) for p in seen]}")
    values = yaml.safe_load(path.read_text()) or {}
    base = values.pop("base", None)
    if base is None:
        return values
    return _merged(_recipe_values(path.parent / base, (*seen, path.resolve())), values)


def _merged(base: dict, changes: dict) -> dict:
    merged = dict(base)
    for key, value in changes.items():
        merged[key] = (_merged(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict)
                       else value)
    return merged


def load_run_config(path: str | Path, output: str | None = None, data_root: str | None = None) -> TrainConfig:
    """A recipe with the commands' --output and --data-root folders, when given, in place of its own."""
    overrides = {"output": output} if output else {}
    config = load_config(path, overrides)
    if data_root:
        config = load_config(path, {**overrides, "data": {**to_dict(config)["data"], "root": data_root}})
    return config


def to_dict(config: TrainConfig) -> dict:
    return dataclasses.asdict(config)
