"""The predictive model: an encoder plus heads for the phenotype panel, the diseases and the cardiomyopathy
subtype, with the calibration and operating thresholds it ships with.

Heads share one small MLP trunk over the encoder's pooled embedding. Phenotypes are predicted standardised and
reported in original units; disease outputs are logits for each disease plus "any cardiomyopathy", calibrated
by per-output temperatures fitted on validation data; each disease stores two operating thresholds fitted on
that data (a balanced call and a 90 %-sensitivity screening cut). The same class with a CMR encoder is the
CMR-input upper bound.

With ``covariates`` configured, a covariate head reads the embedding together with what every ECG file carries
(age, sex, BSA and the cart's measurements, `cardionets.covariates`) and gives the outputs the model reports; the
ECG-only heads stay, because the cine generator was trained on their outputs (`generator_condition`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .alignment import masked_mse
from .cmr_encoder import CMREncoder, CMREncoderConfig
from .ecg_encoder import ECGEncoder, ECGEncoderConfig
from .pretrained import PretrainedModule, nested_config

SUBTYPES = ("hcm", "dcm", "rcm")


@dataclass
class PredictorConfig:
    encoder_kind: str = "ecg"  # "ecg", or "cmr" for the upper bound
    ecg_encoder: ECGEncoderConfig | None = None
    cmr_encoder: CMREncoderConfig | None = None
    phenotypes: tuple[str, ...] = ()
    phenotype_mean: tuple[float, ...] = ()
    phenotype_std: tuple[float, ...] = ()
    diseases: tuple[str, ...] = ()  # outputs: one per disease, then "any_cm"
    hidden_dim: int = 256
    dropout: float = 0.1
    disease_temperature: tuple[float, ...] = ()  # fitted after training; empty = 1
    subtype_temperature: float = 1.0
    # Operating points, fitted on validation data after training (see training/calibration.py): the call
    # threshold maximises Youden's J (a balanced call for one patient); the screening threshold keeps 90 %
    # sensitivity (many false positives with rare diseases). Sensitivity and specificity are the call's.
    disease_threshold: tuple[float, ...] = ()
    disease_screening_threshold: tuple[float, ...] = ()
    disease_sensitivity: tuple[float, ...] = ()
    disease_specificity: tuple[float, ...] = ()
    # The call thresholds calibration set, kept when training.real_thresholds raises them (empty until then), so
    # that raising them again starts from these and not from the raised ones.
    disease_threshold_simulated: tuple[float, ...] = ()
    # Wilson 95 % CIs of those, [low, high] per output (None where unknown); empty in bundles made before them
    disease_sensitivity_ci: tuple = ()
    disease_specificity_ci: tuple = ()
    # The covariate head (empty = ECG only): `cardionets.covariates` names, standardised by these statistics of
    # the training split; an unknown value (NaN) enters with a missing flag, as the training split's mean for the
    # patient's sex (covariate_mean_by_sex: women's, men's) or, sex unknown too, as the overall mean (0).
    covariates: tuple[str, ...] = ()
    covariate_mean: tuple[float, ...] = ()
    covariate_std: tuple[float, ...] = ()
    covariate_mean_by_sex: tuple[tuple[float, ...], tuple[float, ...]] | tuple = ()
    covariate_hidden_dim: int = 256
    covariate_dropout: float = 0.3
    # Split-conformal half-widths of each phenotype's prediction interval, in original units, by coverage
    # ("0.8", "0.95"): absolute residual quantiles on the calibration split (training/covariate_heads.py).
    phenotype_interval: dict[str, tuple[float, ...]] | None = None

    def __post_init__(self):
        self.ecg_encoder = nested_config(self.ecg_encoder, ECGEncoderConfig)
        self.cmr_encoder = nested_config(self.cmr_encoder, CMREncoderConfig)

    @property
    def disease_outputs(self) -> tuple[str, ...]:
        return (*self.diseases, "any_cm")


class CardioNetsPredictor(PretrainedModule):
    config_class = PredictorConfig
    model_type = "cardionets-predictor"

    def __init__(self, config: PredictorConfig):
        super().__init__(config)
        if config.encoder_kind == "ecg":
            self.encoder = ECGEncoder(config.ecg_encoder or ECGEncoderConfig())
            width = self.encoder.config.dim
        elif config.encoder_kind == "cmr":
            self.encoder = CMREncoder(config.cmr_encoder or CMREncoderConfig())
            width = self.encoder.config.dim
        else:
            raise ValueError(f"unknown encoder kind {config.encoder_kind!r}")
        self.trunk = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, config.hidden_dim), nn.GELU(),
                                   nn.Dropout(config.dropout))
        self.phenotype_head = nn.Linear(config.hidden_dim, max(len(config.phenotypes), 1))
        self.disease_head = nn.Linear(config.hidden_dim, len(config.disease_outputs))
        self.subtype_head = nn.Linear(config.hidden_dim, len(SUBTYPES))
        self.register_buffer("phenotype_mean", torch.tensor(config.phenotype_mean or [0.0], dtype=torch.float32))
        self.register_buffer("phenotype_std", torch.tensor(config.phenotype_std or [1.0], dtype=torch.float32))
        self.covariate_head = None
        if config.covariates:
            self.covariate_head = CovariateHead(width, len(config.covariates), config.covariate_hidden_dim,
                                                config.covariate_dropout,
                                                (self.phenotype_head.out_features, self.disease_head.out_features,
                                                 len(SUBTYPES)))
            # From the config, not the weights file: half-precision storage would round them.
            self.register_buffer("covariate_mean", torch.tensor(config.covariate_mean, dtype=torch.float32),
                                 persistent=False)
            self.register_buffer("covariate_std", torch.tensor(config.covariate_std, dtype=torch.float32),
                                 persistent=False)
            by_sex = config.covariate_mean_by_sex or (config.covariate_mean, config.covariate_mean)
            self.register_buffer("covariate_mean_by_sex", torch.tensor(by_sex, dtype=torch.float32), persistent=False)

    def forward(self, inputs: torch.Tensor, covariates: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        return self.heads(self.encoder.embed(inputs), covariates)

    def heads(self, embedding: torch.Tensor, covariates: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """The reported outputs: the covariate head's where the model has one (``covariates`` (B, C) in config
        order, NaN = unknown; None = all unknown), else the ECG-only heads'."""
        if self.covariate_head is None:
            return self.ecg_heads(embedding)
        if covariates is None:
            covariates = torch.full((embedding.shape[0], len(self.config.covariates)), float("nan"),
                                    device=embedding.device)
        covariates = covariates.to(embedding.device, torch.float32)
        missing = torch.isnan(covariates)
        filled = torch.where(missing, self._fill(covariates), covariates)
        return self.covariate_head(embedding, (filled - self.covariate_mean) / self.covariate_std, missing)

    def _fill(self, covariates: torch.Tensor) -> torch.Tensor:
        """(B, C) the value an unknown covariate stands in for: the training split's mean for the patient's sex.
        Filling with the overall mean made a woman whose height and weight were not given an average-sized adult,
        about 9 mL too large an LVEDV; the missing flag still tells the head the value was not measured."""
        male = covariates[:, self.config.covariates.index("male")] if "male" in self.config.covariates else None
        if male is None:
            return self.covariate_mean.expand_as(covariates)
        by_sex = self.covariate_mean_by_sex[male.nan_to_num(0.0).round().long().clamp(0, 1)]
        return torch.where(torch.isnan(male)[:, None], self.covariate_mean.expand_as(covariates), by_sex)

    def ecg_heads(self, embedding: torch.Tensor) -> dict[str, torch.Tensor]:
        """The heads on the ECG embedding alone (the generator's condition is made of their outputs)."""
        hidden = self.trunk(embedding)
        return {
            "phenotypes_standardised": self.phenotype_head(hidden),  # (B, P)
            "disease_logits": self.disease_head(hidden),  # (B, D + 1)
            "subtype_logits": self.subtype_head(hidden),  # (B, 3)
        }

    @property
    def condition_dim(self) -> int:
        """Size of `generator_condition`'s vectors."""
        return self.encoder.config.dim + self.phenotype_head.out_features + self.disease_head.out_features

    @torch.inference_mode()
    def generator_condition(self, inputs: torch.Tensor) -> torch.Tensor:
        """What the cine generator is conditioned on (B, condition_dim): the encoder's embedding with the heads'
        standardised phenotypes and disease logits.

        With the heads' outputs beside the embedding, the generator need not learn the volumes from the embedding
        again with its own, smaller budget: the generated heart can beat with the volumes the heads predict, so
        image and numbers tell one story, and a disagreement between them is worth a flag.
        """
        embedding = self.encoder.embed(inputs)
        return self._condition(embedding, self.ecg_heads(embedding))

    @staticmethod
    def _condition(embedding: torch.Tensor, heads: dict[str, torch.Tensor]) -> torch.Tensor:
        return torch.cat([embedding, heads["phenotypes_standardised"], heads["disease_logits"]], dim=-1)

    def standardise(self, phenotypes: torch.Tensor) -> torch.Tensor:
        return (phenotypes - self.phenotype_mean) / self.phenotype_std

    def loss(self, inputs: torch.Tensor, phenotypes: torch.Tensor, labels: torch.Tensor,
             covariates: torch.Tensor | None = None) -> torch.Tensor:
        """Joint loss. ``phenotypes`` (B, P) original units and ``labels`` (B, D) 0/1, NaN where unknown."""
        return self.heads_loss(self(inputs, covariates), phenotypes, labels)

    def heads_loss(self, out: dict[str, torch.Tensor], phenotypes: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """`loss` of outputs already computed (the covariate head trains on stored embeddings)."""
        total = masked_mse(out["phenotypes_standardised"], self.standardise(phenotypes))
        targets = with_any_cardiomyopathy(labels, self.config.diseases)
        known = ~torch.isnan(targets)
        if known.any():
            total = total + F.binary_cross_entropy_with_logits(out["disease_logits"][known], targets[known])
        subtype, has_one = subtype_targets(labels, self.config.diseases)
        if has_one.any():
            total = total + F.cross_entropy(out["subtype_logits"][has_one], subtype[has_one])
        return total

    @torch.inference_mode()
    def predict(self, inputs: torch.Tensor, with_embedding: bool = False,
                covariates: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Phenotypes in original units, calibrated disease probabilities (D + 1) and subtype distribution; with
        ``with_embedding``, the encoder's embedding and the `generator_condition` too (from the same pass).
        ``covariates`` (B, C) feed the covariate head, if the model has one (NaN = unknown)."""
        return self.predict_from_embedding(self.encoder.embed(inputs), with_embedding, covariates)

    @torch.inference_mode()
    def predict_from_embedding(self, embedding: torch.Tensor, with_embedding: bool = False,
                               covariates: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """`predict` from the encoder's embedding."""
        out = self.heads(embedding, covariates)
        temperature = torch.tensor(self.config.disease_temperature or [1.0] * len(self.config.disease_outputs),
                                   device=embedding.device)
        return {
            "phenotypes": out["phenotypes_standardised"] * self.phenotype_std + self.phenotype_mean,
            "disease_probabilities": torch.sigmoid(out["disease_logits"] / temperature),
            "disease_logits": out["disease_logits"],
            "subtype_probabilities": torch.softmax(out["subtype_logits"] / self.config.subtype_temperature, dim=-1),
            "subtype_logits": out["subtype_logits"],
        } | ({"embedding": embedding, "generator_condition": self._condition(embedding, self.ecg_heads(embedding))}
             if with_embedding else {})


class CovariateHead(nn.Module):
    """The reported heads over the embedding and the standardised covariates with their missing flags."""

    def __init__(self, width: int, n_covariates: int, hidden_dim: int, dropout: float, outputs: tuple[int, int, int]):
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.trunk = nn.Sequential(nn.Linear(width + 2 * n_covariates, hidden_dim), nn.GELU(), nn.Dropout(dropout))
        self.phenotype_head, self.disease_head, self.subtype_head = (nn.Linear(hidden_dim, n) for n in outputs)

    def forward(self, embedding: torch.Tensor, covariates: torch.Tensor,
                missing: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """``covariates`` standardised, NaN (entering as 0) where unknown unless ``missing`` says which were filled."""
        if missing is None:
            missing = torch.isnan(covariates)
        values = torch.where(torch.isnan(covariates), torch.zeros_like(covariates), covariates)
        hidden = self.trunk(torch.cat([self.norm(embedding.float()), values, missing.float()], dim=-1))
        return {"phenotypes_standardised": self.phenotype_head(hidden), "disease_logits": self.disease_head(hidden),
                "subtype_logits": self.subtype_head(hidden)}


def with_any_cardiomyopathy(labels: torch.Tensor, diseases: tuple[str, ...]) -> torch.Tensor:
    """(B, D) labels -> (B, D + 1) with "any cardiomyopathy" = max of the HCM, DCM and RCM labels."""
    columns = [diseases.index(name) for name in SUBTYPES if name in diseases]
    any_cm = labels[:, columns].amax(dim=1, keepdim=True) if columns else torch.full_like(labels[:, :1], float("nan"))
    return torch.cat([labels, any_cm], dim=1)


def subtype_targets(labels: torch.Tensor, diseases: tuple[str, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """(class index (B,), mask (B,)): subjects with exactly one of HCM, DCM, RCM (the subtype task's cases)."""
    if not all(name in diseases for name in SUBTYPES):
        empty = torch.zeros(labels.shape[0], dtype=torch.bool, device=labels.device)
        return torch.zeros_like(empty, dtype=torch.long), empty
    subtype_labels = labels[:, [diseases.index(name) for name in SUBTYPES]]
    has_one = (torch.nan_to_num(subtype_labels, nan=0.0).sum(dim=1) == 1) & ~torch.isnan(subtype_labels).any(dim=1)
    return subtype_labels.nan_to_num(0.0).argmax(dim=1), has_one
