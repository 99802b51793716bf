"""What `CardioNets.predict` returns: one ECG's complete, explained result, as dataclasses that round-trip JSON.

Every phenotype carries its unit and, where a published adult reference exists, the sex-specific reference
range and a flag (LV volumes and EF: UK Biobank; RV volumes: Hudsmith 2005; see `cardionets.sim.reference_ranges`);
every disease its calibrated probability, the call threshold (Youden's J on validation data; for AF from the rhythm
branch, 98 % specificity) with the sensitivity and specificity it had there, the call, and the 90 %-sensitivity
screening cut. Research use, not for diagnosis:
the text travels with every result.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field

from .sim.reference_ranges import reference_for

RESEARCH_USE = "Research use only, not for diagnosis. Values are estimated from the ECG, not measured on a CMR."
REFERENCE_Z = 1.96  # the reference limits are mean +/- 1.96 SD of the healthy reference cohort (95 % of it)
UNITS = {"_g_m2": "g/m²", "_l_min": "L/min", "_ml": "mL", "_pct": "%", "_mm": "mm", "_g": "g"}  # longest first


def unit_of(name: str) -> str:
    """A phenotype's unit from its schema name's suffix ("lvedv_ml" -> "mL")."""
    for suffix, unit in UNITS.items():
        if name.endswith(suffix):
            return unit
    return ""


def reference_range(name: str, sex: str | None) -> tuple[float, float, str] | None:
    """(low, high, source) of a phenotype for a sex ("M"/"F"), or for either when the sex is unknown (the
    wider of the two); None where no published reference is held (see `cardionets.sim.reference_ranges`)."""
    source = reference_for(name)
    if source is None:
        return None
    known = sex in source.values
    values = [source.values[s][name] for s in ([sex] if known else source.values)]
    low = min(v.lower if v.lower is not None else v.mean - REFERENCE_Z * v.sd for v in values)
    high = max(v.upper if v.upper is not None else v.mean + REFERENCE_Z * v.sd for v in values)
    who = {"M": "men", "F": "women"}[sex] if known else "men and women (sex not given)"
    limits = source.limits or f"mean +/- {REFERENCE_Z} SD"
    return low, high, f"{source.cohort.format(who=who)}, {limits}; {source.citation}"


NON_NEGATIVE_UNITS = ("mL", "g", "mm", "L/min", "%")  # strain (also "%") is the one negative phenotype
# Beyond what any heart measures, by unit, with room for a regression's slop (a working model gives a small atrium's
# stroke volume as -6 mL on a real ECG): a model that outputs beyond these is damaged or was tampered with (a
# ventricle of 3 L, an ejection fraction of 400 %), and none of its outputs can be shown.
PLAUSIBLE_BY_UNIT = {"mL": (-200.0, 3000.0), "g": (-200.0, 2000.0), "mm": (-20.0, 80.0), "L/min": (-10.0, 50.0),
                     "%": (-120.0, 120.0)}


def implausible_outputs(phenotypes: dict[str, float], probabilities: dict[str, float]) -> list[str]:
    """'name value' for every output no working model could give: non-finite, a phenotype beyond
    PLAUSIBLE_BY_UNIT, a probability outside [0, 1]."""
    out = []
    for name, value in phenotypes.items():
        unit = unit_of(name)
        low, high = PLAUSIBLE_BY_UNIT.get(unit, (-math.inf, math.inf))
        if not (math.isfinite(value) and low <= value <= high):
            out.append(f"{name} {value:g} {unit}")
    out += [f"{name} probability {p:g}" for name, p in probabilities.items() if not (math.isfinite(p) and 0 <= p <= 1)]
    return out


@dataclass
class PhenotypeResult:
    value: float
    unit: str
    ref_low: float | None = None
    ref_high: float | None = None
    # Against the reference range: "low" / "high" when the whole 95 % prediction interval lies below / above it,
    # "normal" when it lies inside, "uncertain" when it spans a limit (so neither can be said); without an
    # interval, the point value decides. None without a reference range.
    flag: str | None = None
    reference: str | None = None
    interval_80: list[float] | None = None  # [low, high]: conformal prediction intervals (`predictor`'s config)
    interval_95: list[float] | None = None

    @classmethod
    def of(cls, name: str, value: float, sex: str | None,
           half_widths: dict[str, float] | None = None) -> PhenotypeResult:
        """``half_widths`` by coverage ("0.8", "0.95"), in the phenotype's units; none: no interval."""
        value = float(value)
        return cls.with_intervals(name, value, sex, {coverage: [value - width, value + width]
                                                     for coverage, width in (half_widths or {}).items()
                                                     if width is not None})

    @classmethod
    def with_intervals(cls, name: str, value: float, sex: str | None,
                       intervals: dict[str, list[float]]) -> PhenotypeResult:
        """``intervals``: [low, high] by coverage ("0.8", "0.95"); a volume's, mass's or thickness's lower end is
        held at zero. The flag comes from the 95 % one."""
        unit, value = unit_of(name), float(value)
        floor = 0.0 if unit in NON_NEGATIVE_UNITS and not name.startswith("ecc_") else -float("inf")
        intervals = {coverage: [round(max(floor, low), 2), round(high, 2)] for coverage, (low, high) in
                     intervals.items()}
        interval_95 = intervals.get("0.95")
        found = reference_range(name, sex)
        if found is None:
            return cls(round(value, 2), unit, interval_80=intervals.get("0.8"), interval_95=interval_95)
        low, high, source = found
        below, above = interval_95 or (value, value)
        flag = ("low" if above < low else "high" if below > high
                else "normal" if low <= below and above <= high else "uncertain")
        return cls(round(value, 2), unit, round(low, 2), round(high, 2), flag, source, intervals.get("0.8"),
                   interval_95)


WALL_SEGMENTS = tuple(f"wt_aha{i}_mm" for i in range(1, 17))
DERIVED_PHENOTYPES = ("wt_max_mm", "lvm_g_m2")  # `with_derived_phenotypes`; lvm_g_m2 only with height and weight


def with_derived_phenotypes(phenotypes: dict[str, PhenotypeResult], sex: str | None,
                            bsa_m2: float | None) -> dict[str, PhenotypeResult]:
    """The phenotypes with two a CMR report leads with, placed after the outputs they come from:
    - ``wt_max_mm``, the thickest of the 16 AHA segments: the HCM criterion (`reference_range`). Its interval
      runs from the largest of the segments' lower ends to the largest of their upper ends, so it holds
      wherever each segment's does;
    - ``lvm_g_m2``, LV mass over body surface area (only when height and weight give one), with its interval
      scaled the same way."""
    derived: dict[str, PhenotypeResult] = {}
    if all(name in phenotypes for name in WALL_SEGMENTS):
        segments = [phenotypes[name] for name in WALL_SEGMENTS]
        derived["wt_max_mm"] = PhenotypeResult.with_intervals("wt_max_mm", max(p.value for p in segments), sex, {
            coverage: [max(getattr(p, attribute)[0] for p in segments), max(getattr(p, attribute)[1] for p in segments)]
            for coverage, attribute in (("0.8", "interval_80"), ("0.95", "interval_95"))
            if all(getattr(p, attribute) is not None for p in segments)})
    mass = phenotypes.get("lvm_g")
    if mass is not None and bsa_m2:
        derived["lvm_g_m2"] = PhenotypeResult.with_intervals("lvm_g_m2", mass.value / bsa_m2, sex, {
            coverage: [interval[0] / bsa_m2, interval[1] / bsa_m2]
            for coverage, interval in (("0.8", mass.interval_80), ("0.95", mass.interval_95)) if interval is not None})
    after = {"wt_max_mm": "wt_global_mm", "lvm_g_m2": "lvm_g"}
    out: dict[str, PhenotypeResult] = {}
    for name, result in phenotypes.items():
        out[name] = result
        out.update({new: derived[new] for new, source in after.items() if source == name and new in derived})
    return {**out, **derived}  # a derived value whose source is not an output goes last


@dataclass
class DiseaseResult:
    probability: float  # calibrated
    threshold: float  # the call threshold: Youden's J on validation data (rhythm-branch AF: 98 % specificity)
    positive: bool | None  # probability >= threshold; None when the outputs do not apply (`OODResult.withheld`)
    screening_threshold: float | None = None  # keeps 90 % sensitivity on validation data (many false positives)
    sensitivity: float | None = None  # of the call, on validation data
    specificity: float | None = None
    sensitivity_ci: list[float] | None = None  # Wilson 95 % [low, high] of those
    specificity_ci: list[float] | None = None

    @property
    def screen_positive(self) -> bool | None:
        """Above the 90 %-sensitivity cut: worth a look when screening, not a diagnosis of the disease."""
        if self.screening_threshold is None or self.positive is None:
            return None
        return self.probability >= self.screening_threshold


@dataclass
class OODResult:
    score: float | None  # embedding distance / its 99th percentile on held-out training-site ECGs; None if rejected
    out_of_distribution: bool
    warnings: list[str] = field(default_factory=list)
    # The models' outputs do not apply to this patient (a child, a paced rhythm): no call and no reference flag is
    # made, anywhere the result is shown; the values stay, greyed, for research.
    withheld: bool = False


@dataclass
class Prediction:
    qc: dict  # {"verdict": "ok" | "warn" | "reject", "findings": [...]}
    measurements: dict | None  # our cart measurements (None when the beats could not be measured)
    device_measurements: dict
    patient: dict  # age, sex as the file gave them (or the caller)
    phenotypes: dict[str, PhenotypeResult]  # empty when the quality gate rejected the ECG
    diseases: dict[str, DiseaseResult]
    subtypes: dict[str, float]  # cardiomyopathy subtype distribution (sums to 1)
    ood: OODResult
    model: dict  # version, bundle and recipe
    timing_ms: dict[str, float]
    source: str | None = None  # the file name, when read from a file
    disclaimer: str = RESEARCH_USE
    rhythm: dict | None = None  # the rule-based rhythm read (`cardionets.ecg.rhythm`); None when not measurable
    interpretation: list[str] = field(default_factory=list)  # the cart's own statements, verbatim
    acquired: str | None = None  # when the ECG was recorded, as its file says ("YYYY-MM-DD HH:MM")
    disagreements: list[str] = field(default_factory=list)  # where a call contradicts what the tracing shows

    @property
    def rejected(self) -> bool:
        return self.qc["verdict"] == "reject"

    @property
    def positive_calls(self) -> list[str]:
        """The diseases called positive (none when the calls are withheld)."""
        return [name for name, d in self.diseases.items() if d.positive]

    def to_dict(self) -> dict:
        return asdict(self)

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, record: dict) -> Prediction:
        record = dict(record)
        record["phenotypes"] = {k: PhenotypeResult(**v) for k, v in record["phenotypes"].items()}
        record["diseases"] = {k: DiseaseResult(**v) for k, v in record["diseases"].items()}
        record["ood"] = OODResult(**record["ood"])
        return cls(**record)

    @classmethod
    def from_json(cls, text: str) -> Prediction:
        return cls.from_dict(json.loads(text))
