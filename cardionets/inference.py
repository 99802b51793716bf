"""`CardioNets`: every model the app needs, loaded once from a weights bundle (`cardionets.bundle`).

    model = CardioNets.from_pretrained()                       # the repo's weights/, no network
    model = CardioNets.from_pretrained("org/cardionets", revision="<commit>")   # a Hub snapshot
    model.save_pretrained("exported/")                         # a sealed copy (manifest re-hashed)

Loading verifies the bundle first (schema version, sha256 of every file), then builds each component from its
folder with the `from_pretrained` every CardioNets model has. The device is CUDA, then MPS, then CPU unless one
is given; models are put in eval mode once, here.
"""

from __future__ import annotations

import io
import shutil
import tempfile
import time
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch
from safetensors import SafetensorError

from . import __version__
from .bundle import MODEL_CARD_NAME, BundleError, Manifest, load_verified, seal
from .cmr.export import SYNTHETIC, export_generated_cine, side_by_side_gif
from .cmr.measure import (
    IMAGE_CALIBRATION_FILE,
    IMAGE_PHENOTYPES,
    ImagePhenotypeCalibration,
    ImagePhenotypeEstimate,
    measure_cines,
)
from .covariates import bsa_m2, covariate_values
from .device import autocast, select_device
from .ecg import ECG, MeasurementError, check_quality, load, measure, model_view
from .ecg.errors import ECGError
from .ecg.pacing import PacingEvidence
from .ecg.rhythm import AF_IRREGULARITY
from .models.cine_tokenizer import CineTokenizer
from .models.mar import CineMAR
from .models.mar_sampler import (
    SAMPLER_FILE,
    SamplerSettings,
    load_sampler_settings,
    sample_cines,
    save_sampler_settings,
)
from .models.predictor import SUBTYPES, CardioNetsPredictor, PredictorConfig
from .models.real_findings import RealFindingsConfig, RealFindingsModel
from .models.rhythm import RhythmModel
from .models.scanner_adapter import ScannerAdapter
from .models.segmenter import CMRSegmenter
from .ood import OOD_REFERENCE_FILE, UNUSUAL_SCORE, EmbeddingReference
from .prediction import (
    DiseaseResult,
    OODResult,
    PhenotypeResult,
    Prediction,
    implausible_outputs,
    with_derived_phenotypes,
)
from .preparation import PreparedECG, prepare_ecg
from .sim.sites import SITES

VIEWS = ("sax", "4ch")  # the generator's views, in its order
TRAINED_AGE_YEARS = (40, 80)  # the ages the training cohorts cover (UK Biobank imaging: 45-82)
WITHHELD_NOTE = ("No disease call and no reference-range flag is made for this ECG; the estimates are shown greyed, "
                 "for research only.")
DEFAULT_HEART_RATE_BPM = 60.0  # for a generated cine's frame timing when the ECG's rate cannot be measured
EcgSource = ECG | str | Path | bytes | BinaryIO
COMPONENT_CLASSES = {"predictor": CardioNetsPredictor, "tokenizer": CineTokenizer, "generator": CineMAR,
                     "segmenter": CMRSegmenter}
OPTIONAL_COMPONENT_CLASSES = {"scanner_adapter": ScannerAdapter,  # the names of bundle.OPTIONAL_COMPONENTS
                              "rhythm": RhythmModel, "real_findings": RealFindingsModel}


class ECGRejectedError(ECGError):
    """The quality gate rejected the ECG: no model output is given for it."""


@dataclass
class GeneratedCMR:
    """SYNTHETIC two-view cines generated from one ECG: research use, not for diagnosis.

    ``image_phenotypes`` are measured on the generated cines by the segmenter (mean and SD over the samples);
    ``disagreements`` flags each phenotype whose regression-head value lies outside their combined spread.
    """

    cines: np.ndarray  # (n_samples, views, frames, H, W) float32 in [0, 1]
    views: tuple[str, ...]
    pixel_mm: float
    frame_duration_s: float
    seeds: tuple[int, ...]
    settings: SamplerSettings  # the seed field is the first sample's
    image_phenotypes: ImagePhenotypeEstimate
    predicted_phenotypes: dict[str, float]  # the regression head's values of the same phenotypes
    disagreements: dict[str, bool | None]  # None: one sample, no spread to judge by
    seconds: float
    label: str = SYNTHETIC
    scanner: str | None = None  # the site whose scanner the cines imitate; None: the training sites' look

    def export(self, directory: str | Path, formats: tuple[str, ...] = ("nifti", "gif", "png"),
               stem: str = "cardionets", sample: int = 0) -> dict[str, Path]:
        """Write one sample's cines (NIfTI with pixdim and time, GIF, PNG frames), each marked SYNTHETIC."""
        return export_generated_cine(self.cines[sample], self.views, self.pixel_mm, self.frame_duration_s,
                                     Path(directory), f"{stem}_sample{sample}", formats)

    def gif(self, sample: int = 0) -> bytes:
        """Both views side by side as a looping GIF at the ECG's heart rate, SYNTHETIC burned in."""
        return side_by_side_gif(self.cines[sample], fps=1.0 / self.frame_duration_s)

    def archive(self, formats: tuple[str, ...] = ("nifti", "gif"), stem: str = "cardionets") -> bytes:
        """Every sample's `export` files in one zip, for a download."""
        buffer = io.BytesIO()
        with tempfile.TemporaryDirectory() as folder, zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for sample in range(len(self.cines)):
                for path in self.export(folder, formats, stem, sample).values():
                    archive.write(path, path.name)
        return buffer.getvalue()


@dataclass
class CardioNets:
    predictor: CardioNetsPredictor
    tokenizer: CineTokenizer
    generator: CineMAR
    segmenter: CMRSegmenter
    image_calibration: ImagePhenotypeCalibration  # the segmenter's lines, fitted on acquired cines
    # The lines fitted on this generator's own cines (`training.calibrate_generated`): what measures them.
    generated_calibration: ImagePhenotypeCalibration
    ood_reference: EmbeddingReference
    sampler: SamplerSettings  # the bundle's default generation settings
    manifest: Manifest
    source: Path  # the bundle folder it was loaded from
    device: torch.device
    # What imaging on a chosen scanner changes in a generated cine (`cardionets.models.scanner_adapter`); None
    # when the bundle has none, and then cines have the training sites' look.
    scanner_adapter: ScannerAdapter | None = None
    rhythm: RhythmModel | None = None  # when present, the AF call comes from the rhythm read, not the encoder
    # When present, its findings' calls (learnt from real ECGs) replace the heads' of the same name (prior MI)
    # and follow them (LVH, bundle branch blocks).
    real_findings: RealFindingsModel | None = None
    _generation_costs: tuple[float, ...] | None = field(default=None, repr=False)
    _generation_pace: float = field(default=1.0, repr=False)  # last actual / modelled time: the machine's load

    @classmethod
    def from_pretrained(cls, path_or_repo_id: str | Path | None = None, revision: str | None = None,
                        device: str | torch.device | None = None) -> CardioNets:
        directory, manifest = load_verified(path_or_repo_id, revision)
        missing = [name for name in COMPONENT_CLASSES if name not in manifest.components]
        if missing:
            raise BundleError(f"The bundle in {directory} has no {', '.join(missing)} component.")
        device = select_device(str(device) if device is not None else None)
        folders = {name: directory / manifest.components[name] for name in COMPONENT_CLASSES}
        try:
            models = {name: COMPONENT_CLASSES[name].from_pretrained(folder).to(device).eval()
                      for name, folder in folders.items()}
            calibration = ImagePhenotypeCalibration.load(folders["segmenter"] / IMAGE_CALIBRATION_FILE)
            generated_lines = folders["generator"] / IMAGE_CALIBRATION_FILE  # bundles exported before it lack it
            generated = ImagePhenotypeCalibration.load(generated_lines) if generated_lines.is_file() else calibration
            models.update({name: OPTIONAL_COMPONENT_CLASSES[name].from_pretrained(
                directory / manifest.components[name]).to(device).eval()
                for name in OPTIONAL_COMPONENT_CLASSES if name in manifest.components})
            ood_reference = EmbeddingReference.load(folders["predictor"] / OOD_REFERENCE_FILE)
            sampler = load_sampler_settings(folders["generator"])
            if sampler is None:
                raise FileNotFoundError(f"the generator has no {SAMPLER_FILE}")
        except (FileNotFoundError, ValueError, KeyError, TypeError, RuntimeError, SafetensorError) as error:
            # The checksums matched, so these are files written by an incompatible exporter, not damage.
            raise BundleError(f"The bundle in {directory} does not fit this version of CardioNets: {error}") \
                from None
        return cls(**models, image_calibration=calibration, generated_calibration=generated,
                   ood_reference=ood_reference, sampler=sampler,
                   manifest=manifest, source=directory, device=device)

    def save_pretrained(self, directory: str | Path) -> Path:
        """Write the loaded models and their side files as a sealed bundle in ``directory``."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        components = [*COMPONENT_CLASSES,
                      *(name for name in OPTIONAL_COMPONENT_CLASSES if getattr(self, name) is not None)]
        for name in components:
            getattr(self, name).save_pretrained(directory / name)
        self.image_calibration.save(directory / "segmenter" / IMAGE_CALIBRATION_FILE)
        self.generated_calibration.save(directory / "generator" / IMAGE_CALIBRATION_FILE)
        self.ood_reference.save(directory / "predictor" / OOD_REFERENCE_FILE)
        save_sampler_settings(directory / "generator", self.sampler,
                              self.source / self.manifest.components["generator"] / SAMPLER_FILE)
        card = self.source / MODEL_CARD_NAME
        if card.is_file():
            shutil.copyfile(card, directory / MODEL_CARD_NAME)
        seal(directory, {name: name for name in components}, self.manifest.metadata)
        return directory

    def push_to_hub(self, repo_id: str, revision: str | None = None, private: bool = True,
                    token: str | None = None, commit_message: str = "Upload CardioNets weights") -> str:
        """Upload the bundle folder this model was loaded from (verified on loading) as a Hub model repo,
        created if needed and private unless told otherwise. The token comes from ``token``, else HF_TOKEN or the
        local login, never from the repo. Returns the commit URL."""
        from huggingface_hub import HfApi

        api = HfApi(token=token)
        api.create_repo(repo_id, private=private, exist_ok=True)
        info = api.upload_folder(repo_id=repo_id, folder_path=self.source, revision=revision,
                                 commit_message=commit_message, ignore_patterns=[".cache/*"])
        return str(getattr(info, "commit_url", info))

    # --- inputs ------------------------------------------------------------------------------------------------
    def read_ecg(self, ecg: EcgSource) -> ECG:
        """An `ECG`, or a file (path, bytes, file object) read by `cardionets.ecg.load` (typed errors)."""
        return ecg if isinstance(ecg, ECG) else load(ecg)

    def model_input(self, record: ECG) -> torch.Tensor:
        """(1, 12, 5000) on the model's device: the same `model_view` every model trained on."""
        return torch.from_numpy(model_view(record))[None].to(self.device)

    def model_covariates(self, record: ECG) -> torch.Tensor:
        """(1, C): what the file says of the patient and the cart's measurements (`cardionets.covariates`)."""
        meta = record.meta
        values = covariate_values(model_view(record), meta.age_years, meta.sex, meta.height_cm, meta.weight_kg)
        return torch.from_numpy(values).float()[None]

    # --- prediction ----------------------------------------------------------------------------------------------
    def predict(self, ecg: EcgSource, sex: str | None = None, age_years: float | None = None,
                height_cm: float | None = None, weight_kg: float | None = None) -> Prediction:
        """One ECG's complete result: quality, measurements, phenotypes with reference ranges and prediction
        intervals, disease calls, subtype distribution, how typical the ECG is of the training data. ``sex``
        ("M"/"F"), ``age_years``, ``height_cm`` and ``weight_kg`` override what the file says. A rejected ECG
        gets its QC findings and no model output; an unreadable file raises the typed `ECGError` that says why."""
        started = time.perf_counter()
        record = self.read_ecg(ecg)
        read_ms = 1000 * (time.perf_counter() - started)
        if height_cm is not None or weight_kg is not None:
            record = replace(record, meta=replace(record.meta, height_cm=height_cm or record.meta.height_cm,
                                                  weight_kg=weight_kg or record.meta.weight_kg))
        result = self.predict_records([record], [sex], [age_years])[0]
        result.timing_ms = {"read": read_ms, **result.timing_ms, "total": read_ms + result.timing_ms["total"]}
        result.source = str(ecg) if isinstance(ecg, str | Path) else None
        return result

    def predict_records(self, records: list[ECG], sexes: list[str | None] | None = None,
                        ages_years: list[float | None] | None = None) -> list[Prediction]:
        """`predict` for ECGs already read, with one batched pass of the models over those the quality gate
        passes."""
        sexes = sexes or [None] * len(records)
        ages_years = ages_years or [None] * len(records)
        return self.predict_prepared([prepare_ecg(record, sex, age)
                                      for record, sex, age in zip(records, sexes, ages_years)])

    @torch.inference_mode()
    def predict_prepared(self, prepared: list[PreparedECG]) -> list[Prediction]:
        """Results for ECGs `prepare_ecg` made ready (screening makes them in worker processes): one batched
        pass of the models over those the quality gate passed."""
        started = time.perf_counter()
        passed = [i for i, item in enumerate(prepared) if item.view is not None]
        outputs = self._model_outputs(np.stack([prepared[i].view for i in passed]),
                                      np.stack([prepared[i].covariates for i in passed])) if passed else {}
        models_ms = 1000 * (time.perf_counter() - started) / max(len(passed), 1)
        row_of = {record_index: row for row, record_index in enumerate(passed)}  # record -> row of `outputs`
        return [self._prediction(item, {key: value[row_of[i]] for key, value in outputs.items()}
                                 if i in row_of else None, models_ms) for i, item in enumerate(prepared)]

    def _model_outputs(self, views: np.ndarray, covariates: np.ndarray) -> dict[str, np.ndarray]:
        with autocast(self.device):
            out = self.predictor.predict(torch.from_numpy(views).to(self.device), with_embedding=True,
                                         covariates=torch.from_numpy(covariates).float())
        embedding = out["embedding"].float().cpu().numpy()
        outputs = {key: out[key].float().cpu().numpy() for key in ("phenotypes", "disease_probabilities",
                                                                   "subtype_probabilities")}
        outputs["ood_score"] = self.ood_reference.score(embedding)
        if self.real_findings is not None:
            outputs["findings"] = self.real_findings.probabilities(embedding, covariates)
        return outputs

    def _prediction(self, item: PreparedECG, out: dict | None, models_ms: float) -> Prediction:
        summary, sex, age_years = item.summary, item.sex, item.age_years
        phenotypes, diseases, subtypes, score = {}, {}, {}, None
        if out is not None:
            config = self.predictor.config
            impossible = implausible_outputs(dict(zip(config.phenotypes, map(float, out["phenotypes"]))), {
                **dict(zip(config.disease_outputs, map(float, out["disease_probabilities"]))),
                **({name: float(p) for name, p in zip(self.real_findings.config.findings, out["findings"])}
                   if self.real_findings is not None else {})})
            if impossible:
                raise BundleError(f"The models gave impossible values ({', '.join(impossible[:3])}): the weights "
                                  "may be damaged, so no result is shown. Tell whoever runs this installation.")
            intervals = config.phenotype_interval or {}
            phenotypes = {name: PhenotypeResult.of(name, float(v), sex, {coverage: widths[index]
                                                                         for coverage, widths in intervals.items()})
                          for index, (name, v) in enumerate(zip(config.phenotypes, out["phenotypes"]))}
            phenotypes = with_derived_phenotypes(phenotypes, sex, bsa_m2(item.height_cm, item.weight_kg))
            diseases = {name: disease_result(config, index, float(p))
                        for index, (name, p) in enumerate(zip(config.disease_outputs, out["disease_probabilities"]))}
            subtypes = {name: round(float(p), 4) for name, p in zip(SUBTYPES, out["subtype_probabilities"])}
            score = float(out["ood_score"])
        if self.rhythm is not None and "af" in diseases:
            diseases["af"] = rhythm_af_result(self.rhythm, summary.get("rhythm"), diseases["af"])
        if self.real_findings is not None and out is not None:
            for index, name in enumerate(self.real_findings.config.findings):
                diseases[name] = real_finding_result(self.real_findings.config, index, float(out["findings"][index]))
        ood = ood_result(score, age_years, out is None, item.pacing)
        if ood.withheld:  # the values stay for research; no call or flag is made from them
            phenotypes = {name: replace(p, flag=None) for name, p in phenotypes.items()}
            diseases = {name: replace(d, positive=None) for name, d in diseases.items()}
        metadata = self.manifest.metadata
        timing = {"preparation": item.prepare_ms, "models": models_ms if out is not None else 0.0}
        return Prediction(
            rhythm=summary.get("rhythm"), interpretation=list(summary.get("interpretation", [])),
            acquired=summary.get("acquired"),
            disagreements=rhythm_disagreements(diseases, summary.get("rhythm")),
            qc=summary["qc"], measurements=summary["measurements"],
            device_measurements=summary["device_measurements"], patient={
                "age_years": age_years, "sex": sex, "height_cm": item.height_cm, "weight_kg": item.weight_kg,
                "bsa_m2": bsa_m2(item.height_cm, item.weight_kg)},
            phenotypes=phenotypes, diseases=diseases, subtypes=subtypes,
            ood=ood,
            model={"cardionets_version": __version__, "bundle_created": metadata.get("created"),
                   "recipe": metadata.get("recipe"), "schema_version": self.manifest.schema_version,
                   "device": str(self.device)},
            timing_ms={**timing, "total": sum(timing.values())},
        )

    # --- generation ----------------------------------------------------------------------------------------------
    @property
    def generation_timed(self) -> bool:
        """Whether `generation_seconds` answers at once; otherwise it first times this machine (about 2 s)."""
        return self._generation_costs is not None

    def generation_seconds(self, n_samples: int = 1, steps: int | None = None, cfg: float | None = None,
                           autoregressive_steps: int | None = None) -> float:
        """How long `generate_cmr` with these settings should take here, from a cost model timed once per
        process (`_time_generation`)."""
        if self._generation_costs is None:
            self._generation_costs = self._time_generation()
        *coefficients, guided = self._generation_costs
        ar = autoregressive_steps or self.sampler.autoregressive_steps
        diffusion = steps or self.sampler.diffusion_steps
        factor = guided if (cfg if cfg is not None else self.sampler.cfg_scale) != 1 else 1.0
        fixed, *variable = (c * x for c, x in zip(coefficients, _generation_terms(ar, diffusion)))
        return self._generation_pace * n_samples * (fixed + factor * sum(variable))

    @torch.inference_mode()
    def _time_generation(self) -> tuple[float, ...]:
        """Least-squares costs of the `_generation_terms` from five short generations, and the factor guidance
        adds (its conditional and unconditional passes share a batch, so it is less than 2)."""
        condition = torch.zeros(1, self.generator.config.condition_dim, device=self.device)

        def seconds(ar: int, diffusion: int, cfg: float = 1.0) -> float:
            settings = replace(self.sampler, autoregressive_steps=ar, diffusion_steps=diffusion, cfg_scale=cfg)
            started = time.perf_counter()
            cines = sample_cines(self.generator, self.tokenizer, condition, settings).float().cpu().numpy()
            measure_cines(self.segmenter, cines, self.tokenizer.config.pixel_mm)
            return time.perf_counter() - started

        seconds(4, 4)  # warm-up: the first pass pays for allocations
        settings = ((4, 4), (12, 4), (4, 24), (12, 24))
        measured = np.array([seconds(ar, diffusion) for ar, diffusion in settings])
        design = np.array([_generation_terms(ar, diffusion) for ar, diffusion in settings], dtype=float)
        costs = np.clip(np.linalg.lstsq(design, measured, rcond=None)[0], 0.0, None)
        unguided = float(design[2] @ costs)
        guided = max(1.0, float((seconds(4, 24, 3.0) - costs[0]) / max(unguided - costs[0], 1e-9)))
        return (*map(float, costs), guided)

    @property
    def disease_names(self) -> tuple[str, ...]:
        """Every disease or finding a result calls, in its order: the heads' outputs, then the findings learnt
        from real ECGs that the heads do not have."""
        names = tuple(self.predictor.config.disease_outputs)
        extra = self.real_findings.config.findings if self.real_findings is not None else ()
        return names + tuple(name for name in extra if name not in names)

    @property
    def scanner_choices(self) -> tuple[str, ...]:
        """The sites whose scanner a generated cine can imitate (`generate_cmr`'s ``scanner``); none without a
        scanner adapter."""
        return tuple(SITES) if self.scanner_adapter is not None else ()

    def check_scanner(self, scanner: str | None) -> None:
        """A ValueError that names the choices unless ``scanner`` is None or one of `scanner_choices`."""
        if scanner is not None and scanner not in self.scanner_choices:
            raise ValueError(f"cannot imitate the scanner {scanner!r}: "
                             + (f"the choices are {', '.join(self.scanner_choices)}" if self.scanner_choices
                                else "these weights have no scanner adapter"))

    def scanner_shift(self, condition: torch.Tensor, scanner: str | None) -> torch.Tensor | None:
        """What the adapter adds to a latent generated from ``condition`` (1, condition_dim) to imitate the scanner
        of the site ``scanner``; None for the training sites' look."""
        self.check_scanner(scanner)
        if scanner is None:
            return None
        return self.scanner_adapter(condition.float(), self.scanner_adapter.profile([SITES[scanner].scanner]))

    @torch.inference_mode()
    def generate_cmr(self, ecg: EcgSource, n_samples: int = 1, seed: int = 0, steps: int | None = None,
                     cfg: float | None = None, autoregressive_steps: int | None = None,
                     temperature: float | None = None, scanner: str | None = None) -> GeneratedCMR:
        """Both views of a SYNTHETIC cine for this ECG, ``n_samples`` of them (seeds ``seed``, ``seed`` + 1, ...).

        ``steps`` (diffusion steps per token), ``cfg`` (guidance scale), ``autoregressive_steps`` and
        ``temperature`` override the bundle's tuned defaults. ``scanner`` names a site (`scanner_choices`) whose
        scanner the cines imitate; None keeps the training sites' look. A rejected ECG raises `ECGRejectedError`.
        """
        if n_samples < 1:
            raise ValueError(f"n_samples must be at least 1, got {n_samples}")
        self.check_scanner(scanner)  # before any work
        if self._generation_costs is None:  # the first generation in a process also times the cost model
            self._generation_costs = self._time_generation()
        started = time.perf_counter()
        record = self.read_ecg(ecg)
        quality = check_quality(record)
        if quality.verdict == "reject":
            reasons = " ".join(f.message for f in quality.findings if f.severity == "reject")
            raise ECGRejectedError(f"This ECG did not pass the quality check, so no CMR is generated: {reasons}")
        overrides = {key: value for key, value in {"diffusion_steps": steps, "cfg_scale": cfg, "temperature":
                     temperature, "autoregressive_steps": autoregressive_steps}.items() if value is not None}
        settings = replace(self.sampler, seed=seed, **overrides)
        seeds = tuple(range(seed, seed + n_samples))
        with autocast(self.device):
            out = self.predictor.predict(self.model_input(record), with_embedding=True,  # one pass for both
                                         covariates=self.model_covariates(record))
            shift = self.scanner_shift(out["generator_condition"], scanner)
            cines = np.concatenate([sample_cines(self.generator, self.tokenizer, out["generator_condition"],
                                                 replace(settings, seed=s), shift).float().cpu().numpy()
                                    for s in seeds])
        pixel_mm = self.tokenizer.config.pixel_mm
        measured = [self.generated_calibration.apply(values)
                    for values in measure_cines(self.segmenter, cines, pixel_mm)]
        estimate = ImagePhenotypeEstimate.from_samples(measured)
        phenotypes = out["phenotypes"][0].float().cpu().numpy()
        names = list(self.predictor.config.phenotypes)
        predicted = {name: float(phenotypes[names.index(name)]) for name in IMAGE_PHENOTYPES if name in names}
        seconds = time.perf_counter() - started
        # Later estimates follow how fast this machine runs right now.
        modelled = self.generation_seconds(n_samples, settings.diffusion_steps, settings.cfg_scale,
                                           settings.autoregressive_steps) / self._generation_pace
        self._generation_pace = min(10.0, max(0.1, seconds / max(modelled, 1e-6)))
        return GeneratedCMR(
            cines=cines, views=VIEWS, pixel_mm=pixel_mm,
            frame_duration_s=60.0 / heart_rate_bpm(record) / cines.shape[2], seeds=seeds, settings=settings,
            image_phenotypes=estimate, predicted_phenotypes=predicted,
            # The flag's floor is the segmenter's own error on acquired cines; the generated lines' residual SD
            # also holds the generator's error against the truth, which the samples' spread already speaks for.
            disagreements=estimate.disagreements(predicted, self.image_calibration), seconds=seconds,
            scanner=scanner)


def _generation_terms(autoregressive_steps: int, diffusion_steps: int) -> tuple[int, int, int, int]:
    """What a generation's time grows with: a fixed part (decoding, segmentation), one transformer pass per
    autoregressive step, one diffusion-head call per diffusion step of each autoregressive step (overhead), and
    the head's work per diffusion step over all tokens (the same however the tokens are split)."""
    return 1, autoregressive_steps, autoregressive_steps * diffusion_steps, diffusion_steps


def disease_result(config: PredictorConfig, index: int, probability: float) -> DiseaseResult:
    """One output's call against the operating points its calibration stored (0.5 where it stored none)."""
    def stored(values: tuple, default=None):
        return values[index] if len(values) > index else default

    # The call is made on the rounded figures the clinician reads, so a probability shown equal to its threshold
    # is never reported negative (the unrounded pair can straddle a shared 4-decimal value).
    probability, threshold = round(probability, 4), round(stored(config.disease_threshold, 0.5), 4)
    screening = stored(config.disease_screening_threshold)
    return DiseaseResult(probability, threshold, bool(probability >= threshold),
                         None if screening is None else round(screening, 4), stored(config.disease_sensitivity),
                         stored(config.disease_specificity), _listed(stored(config.disease_sensitivity_ci)),
                         _listed(stored(config.disease_specificity_ci)))


def _listed(interval) -> list[float] | None:
    return None if interval is None else [float(bound) for bound in interval]


def real_finding_result(config: RealFindingsConfig, index: int, probability: float) -> DiseaseResult:
    """One finding's call from the model learnt on real ECGs, with its held-out sensitivity and specificity."""
    probability, threshold = round(probability, 4), round(config.threshold[index], 4)
    return DiseaseResult(probability, threshold, bool(probability >= threshold), None, config.sensitivity[index],
                         config.specificity[index], _listed(config.sensitivity_ci[index]),
                         _listed(config.specificity_ci[index]))


def rhythm_af_result(model: RhythmModel, rhythm: dict | None, encoder: DiseaseResult) -> DiseaseResult:
    """The AF call of the rhythm branch, from the irregularity of the RR series and the P wave, as a cardiologist
    reads AF. Without a readable rhythm (under three beats) the encoder's estimate stays, with no call made."""
    if rhythm is None:
        return replace(encoder, positive=None)
    c = model.config
    probability, threshold = round(model.probability(rhythm), 4), round(c.threshold, 4)
    return DiseaseResult(probability, threshold, bool(probability >= threshold), None, c.sensitivity, c.specificity,
                         _listed(c.sensitivity_ci), _listed(c.specificity_ci))


def rhythm_disagreements(diseases: dict[str, DiseaseResult], rhythm: dict | None) -> list[str]:
    """Where the AF call contradicts the rule-based rhythm read of the same tracing, in words a clinician acts
    on: atrial fibrillation is an irregular rhythm without P waves, which the tracing either shows or not."""
    af = diseases.get("af")
    if af is None or af.positive is None or rhythm is None:
        return []
    irregularity = rhythm["rr_irregularity"]
    if af.positive and rhythm["p_wave_present"] and irregularity <= AF_IRREGULARITY:
        return [f"The atrial fibrillation call disagrees with the tracing: P waves are present and the rhythm is "
                f"regular (RR irregularity {irregularity:.2f}; AF is irregular, usually above {AF_IRREGULARITY:g}). "
                "Read the rhythm strip before acting on the call."]
    if not af.positive and rhythm["rule_says_af"]:
        return [f"The tracing looks like atrial fibrillation (irregular rhythm, RR irregularity {irregularity:.2f}, "
                "and no P wave found) but the model did not call it. Read the rhythm strip."]
    return []


def heart_rate_bpm(record: ECG) -> float:
    """The ECG's measured rate, else the cart's, else DEFAULT_HEART_RATE_BPM: it only times the cine's frames."""
    try:
        return float(measure(record).hr_bpm)
    except (MeasurementError, ValueError):
        return float(record.meta.device_measurements.get("hr_bpm", DEFAULT_HEART_RATE_BPM))


def ood_result(score: float | None, age_years: float | None, rejected: bool,
               pacing: PacingEvidence | None = None) -> OODResult:
    """The embedding score plus what the record itself says about fitting the training data."""
    warnings = []
    paced = pacing is not None and pacing.paced
    paediatric = age_years is not None and age_years < 18
    if paced:
        warnings.append(f"Paced ECG ({pacing.reason}): the models learnt from unpaced ECGs only; their outputs do "
                        "not apply to a paced rhythm.")
    if paediatric:
        warnings.append(f"Paediatric ECG (age {age_years:g}): the models learnt from adults only; do not use "
                        "their outputs for this patient.")
    elif age_years is not None and not TRAINED_AGE_YEARS[0] <= age_years <= TRAINED_AGE_YEARS[1]:
        warnings.append(f"Age {age_years:g} is outside the {TRAINED_AGE_YEARS[0]}-{TRAINED_AGE_YEARS[1]} years the "
                        "models learnt from; outputs may be less reliable.")
    if score is not None and score > UNUSUAL_SCORE:
        warnings.append(f"This ECG is unlike the ECGs the models were built and checked on (score {score:.2f}; above 1 "
                        "is rarer than 99 % of held-out reference ECGs, simulated and real healthy adults'): outputs "
                        "may be unreliable.")
    unusual = bool(warnings)
    withheld = (paced or paediatric) and not rejected
    if withheld:
        warnings.append(WITHHELD_NOTE)
    if rejected:
        warnings.append("The quality check rejected this ECG, so no model output is given.")
    return OODResult(None if score is None else round(score, 3), unusual, warnings, withheld)
