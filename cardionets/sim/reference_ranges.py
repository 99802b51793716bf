"""Adult CMR reference values by sex, from the UK Biobank healthy reference cohort (and, for RV volumes, which
its tables could not be read for, from an earlier Oxford cohort: ``HUDSMITH_2005``).

Source
------
Petersen SE, Aung N, Sanghvi MM, Zemrak F, Fung K, Paiva JM, Francis JM, Khanji MY, Lukaschuk E, Lee AM,
Carapella V, Kim YJ, Leeson P, Piechnik SK, Neubauer S. Reference ranges for cardiac structure and function
using cardiovascular magnetic resonance (CMR) in Caucasians from the UK Biobank population cohort.
J Cardiovasc Magn Reson 2017;19:18. doi:10.1186/s12968-017-0327-9 (PMID 28178995, PMCID PMC5304550).
Open access, CC BY 4.0.

Cohort and conventions
----------------------
- Healthy Caucasian UK Biobank participants aged 45-74, after excluding cardiovascular disease, hypertension,
  diabetes, hyperlipidaemia, current or former smoking, BMI >= 30 kg/m2 and other conditions that change
  chamber size: 800 analysed (368 men, 432 women) from 5,065 scanned. The paper also gives values by age band
  (45-54, 55-64, 65-74).
- 1.5 T, bSSFP cine, manual contours of all four chambers.
- LV: papillary muscles and trabeculations are counted in the LV blood-pool VOLUME, so they are left out of
  LV MASS. LV volumes and EF here are therefore not directly comparable with studies that put the papillary
  muscles in the mass; those studies give smaller volumes and a higher EF.
- Values are mean and SD. ``lower`` and ``upper`` hold the paper's reference limits only when one was found
  (none was, see below); a caller who needs limits must say how they get them (for example mean +/- 1.96 SD).
- Indexed values are divided by body surface area (g/m2, ml/m2).

What could not be confirmed
---------------------------
Only values found in a source are included. This module was written without access to the paper's tables.
The abstract gives LVEF and indexed LV mass by sex. Agreeing public third-party code cross-checks the other
LV numbers (see the comments at each entry). The following are LEFT OUT because no trustworthy source was
found: absolute LV mass; all RV values (EDV, ESV, SV, EF); all LA and RA values (maximum and minimum volume,
stroke volume, EF); indexed EDV/ESV; the paper's lower/upper reference limits; and every age-band value. So
``PETERSEN_2017_BY_AGE`` is not defined. One public file credits RV/LA/RA numbers to "Petersen 2017", but it
gives LVEF 62 +/- 5 % (men) and 66 +/- 5 % (women), which contradicts the abstract (58 / 61 %), and it cites
the wrong volume/page. Its numbers were not used.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ReferenceValue:
    """One reference value: mean, SD, and the paper's lower/upper reference limits where they are known."""

    mean: float
    sd: float
    lower: float | None = None
    upper: float | None = None


CITATION = (
    "Petersen SE et al. Reference ranges for cardiac structure and function using cardiovascular magnetic "
    "resonance (CMR) in Caucasians from the UK Biobank population cohort. J Cardiovasc Magn Reson "
    "2017;19:18. doi:10.1186/s12968-017-0327-9"
)
DOI = "10.1186/s12968-017-0327-9"
N_MALE = 368
N_FEMALE = 432
AGE_RANGE = (45, 74)

# Absolute values, keyed by sex then by the cohort's column names.
# Sources:
#  - lvef_pct: the paper's abstract (women 61 +/- 5 %, men 58 +/- 5 %), read from the article page
#    https://jcmr-online.biomedcentral.com/articles/10.1186/s12968-017-0327-9
#  - lvedv_ml, lvesv_ml, lvsv_ml (and lvef_pct again): from the paper's sex-stratified LV table as quoted by
#    public third-party code. They were not read from the table itself. Independent quotes agree:
#    a physiology model ("cardiac_output_geometric", which states it read PMC5304550) quotes
#    EDV/ESV/SV/EF 166+/-32, 69+/-16, 96+/-20, 58+/-5 (men) and 124+/-21, 49+/-11, 75+/-14, 61+/-5 (women);
#    a cardiac-mesh animation project quotes the same male EDV/ESV/EF; and a separate project
#    ("dependency_inversion_extract.py") quotes the same LVSV for both sexes. Check: EDV - ESV = SV
#    to within 1 ml (men 97 vs 96, women 75 vs 75).
PETERSEN_2017: dict[str, dict[str, ReferenceValue]] = {
    "M": {
        "lvedv_ml": ReferenceValue(166.0, 32.0),
        "lvesv_ml": ReferenceValue(69.0, 16.0),
        "lvsv_ml": ReferenceValue(96.0, 20.0),
        "lvef_pct": ReferenceValue(58.0, 5.0),
    },
    "F": {
        "lvedv_ml": ReferenceValue(124.0, 21.0),
        "lvesv_ml": ReferenceValue(49.0, 11.0),
        "lvsv_ml": ReferenceValue(75.0, 14.0),
        "lvef_pct": ReferenceValue(61.0, 5.0),
    },
}

# Indexed to body surface area.
# Sources:
#  - lvm_g_m2: the paper's abstract (men 53 +/- 9 g/m2, women 42 +/- 7 g/m2); papillary muscles EXCLUDED
#    from the mass.
#  - lvsv_ml_m2: one public third-party source only ("dependency_inversion_extract.py", which says it read the
#    PMC full text): men 49 +/- 10, women 45 +/- 8 ml/m2. Not cross-checked.
PETERSEN_2017_INDEXED: dict[str, dict[str, ReferenceValue]] = {
    "M": {
        "lvm_g_m2": ReferenceValue(53.0, 9.0),
        "lvsv_ml_m2": ReferenceValue(49.0, 10.0),
    },
    "F": {
        "lvm_g_m2": ReferenceValue(42.0, 7.0),
        "lvsv_ml_m2": ReferenceValue(45.0, 8.0),
    },
}

# RV volumes, where Petersen 2017's tables could not be read: an earlier study of the same Oxford group, with the
# same kind of acquisition (1.5 T, short-axis bSSFP stack, manual contours). Source: the paper's abstract (RV EDV
# 190 +/- 33 vs 148 +/- 35 ml, RV ESV 78 +/- 20 vs 56 +/- 18 ml, men vs women), read on the Oxford publication page
# https://www.cardioscience.ox.ac.uk/publications/104926; cohort size and ages (63:45, 21-68 years) from Table 1 of
# Kawel-Boehm et al., JCMR 2020;22:87. Its left-atrial volumes (103 +/- 30 / 89 +/- 21 ml) are left out: they sit far
# above the virtual cohort's healthy atrial targets (`anatomy.TARGETS_UNVERIFIED`: 73 +/- 19 / 67 +/- 16 ml), a
# different way of measuring the atrium, so against them a dilated atrium would rarely be flagged.
HUDSMITH_2005: dict[str, dict[str, ReferenceValue]] = {
    "M": {
        "rvedv_ml": ReferenceValue(190.0, 33.0),
        "rvesv_ml": ReferenceValue(78.0, 20.0),
    },
    "F": {
        "rvedv_ml": ReferenceValue(148.0, 35.0),
        "rvesv_ml": ReferenceValue(56.0, 18.0),
    },
}
HUDSMITH_2005_CITATION = (
    "Hudsmith LE, Petersen SE, Francis JM, Robson MD, Neubauer S. Normal human left and right ventricular and left "
    "atrial dimensions using steady state free precession magnetic resonance imaging. J Cardiovasc Magn Reson "
    "2005;7(5):775-782. doi:10.1080/10976640500295516"
)


# A diagnostic criterion rather than a healthy range: maximal LV wall thickness of 15 mm or more in any segment,
# not explained by loading conditions, is the HCM criterion of both ESC guidelines (13-14 mm with a family history
# or a positive genetic test). So the "range" is 0-15 mm and a flag means the criterion is met.
HCM_WALL_THICKNESS_MM = 15.0
HCM_CRITERION = {sex: {"wt_max_mm": ReferenceValue(HCM_WALL_THICKNESS_MM, 0.0, lower=0.0,
                                                   upper=HCM_WALL_THICKNESS_MM)} for sex in ("M", "F")}
HCM_CITATION = (
    "Elliott PM et al. 2014 ESC Guidelines on diagnosis and management of hypertrophic cardiomyopathy. Eur Heart J "
    "2014;35:2733-2779. doi:10.1093/eurheartj/ehu284; Arbelo E et al. 2023 ESC Guidelines for the management of "
    "cardiomyopathies. Eur Heart J 2023;44:3503-3626. doi:10.1093/eurheartj/ehad194"
)


@dataclass(frozen=True)
class ReferenceSource:
    """One published table of healthy values: whom it describes (for the sentence a flag cites) and its values."""

    cohort: str  # with "{who}" where "men", "women" or "men and women" goes
    values: dict[str, dict[str, ReferenceValue]]  # sex ("M"/"F") -> column -> value
    citation: str
    limits: str | None = None  # how the range's limits were set, where they are not mean +/- 1.96 SD


# Where a phenotype's reference range comes from, first match wins: UK Biobank first, as the app promises.
REFERENCE_SOURCES = (
    ReferenceSource("UK Biobank healthy {who}", PETERSEN_2017, CITATION),
    # Indexed LV mass: the paper's abstract, papillary muscles left out of the mass as in the virtual cohort.
    ReferenceSource("UK Biobank healthy {who}, LV mass over body surface area", PETERSEN_2017_INDEXED, CITATION),
    ReferenceSource("healthy {who} aged 21-68 (Oxford volunteers)", HUDSMITH_2005, HUDSMITH_2005_CITATION),
    ReferenceSource("ESC guideline criterion for HCM ({who})", HCM_CRITERION, HCM_CITATION,
                    limits=f"flagged at {HCM_WALL_THICKNESS_MM:g} mm or more in any segment"),
)


def reference_for(column: str) -> ReferenceSource | None:
    """The first source that holds ``column`` for both sexes; None where none does."""
    return next((source for source in REFERENCE_SOURCES
                 if all(column in by_column for by_column in source.values.values())), None)


# Columns of the cohort that this table should eventually cover. The ones not in PETERSEN_2017 are missing
# because no trustworthy source was found (see the module docstring).
WANTED_COLUMNS = (
    "lvedv_ml", "lvesv_ml", "lvsv_ml", "lvef_pct", "lvm_g",
    "rvedv_ml", "rvesv_ml", "rvsv_ml", "rvef_pct",
    "lav_max_ml", "lav_min_ml", "lasv_ml", "laef_pct",
    "rav_max_ml", "rav_min_ml", "rasv_ml", "raef_pct",
)


def missing_columns(sex: str) -> tuple[str, ...]:
    """Columns of WANTED_COLUMNS with no sourced absolute value for this sex ("M" or "F")."""
    have = PETERSEN_2017[sex]
    return tuple(c for c in WANTED_COLUMNS if c not in have)
