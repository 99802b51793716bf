"""The quality gate: is this ECG good enough to read and to predict from?

`check_quality` returns a verdict ("ok", "warn" or "reject") and plain-language findings a clinician can act on
(re-record, check an electrode). The app shows the findings; the predictor refuses a rejected ECG.

The checks share one analysis of the signal (`_SignalAnalysis`): the leads are averaged down to about 250 Hz
and band-passed 0.5-40 Hz, heartbeats are found on the combined energy of all leads, and `beats.median_beat`
builds the median beat of each lead from them. Spectral measures (mains hum, high-frequency noise) come from one
Welch spectrum of the original samples. Every threshold below is a named constant with the reason for its value.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Literal

import numpy as np
from scipy import ndimage, signal

from .beats import MedianBeat, detect_r_peaks, median_beat
from .preprocess import powerline_in_spectrum
from .record import ECG

Severity = Literal["note", "warn", "reject"]  # a note informs and leaves the verdict "ok"
Verdict = Literal["ok", "warn", "reject"]

# Recording length: models and measurements expect a standard 10 s resting ECG; under 5 s there are too few
# beats to average. One sample of slack so a reader that drops the final sample does not raise a warning.
RECOMMENDED_DURATION_S = 10.0
MIN_DURATION_S = 5.0
MIN_ANALYSABLE_S = 1.0  # shorter than one beat: only the duration finding is given
LOW_RATE_HZ = 250.0  # below it the quality check notes what the rate hides (PTB-XL's 100 Hz release)
# Below it the QRS itself is smoothed away (its energy reaches 40 Hz): the models' inputs no longer look like any
# ECG they learnt from or were checked on, so the note becomes a warning.
MIN_MODEL_RATE_HZ = 100.0

# Missing leads: one lead can be tolerated (the others still show the axis and the chest progression); with
# two or more the models see too much zero input for a reliable prediction.
MAX_MISSING_LEADS_TOLERATED = 1

# Flat leads. After band-passing, even a lead perpendicular to the heart's axis shows a QRS of 0.1 mV or more,
# while amplifier noise of a disconnected input stays below ~20 uV peak-to-peak.
FLAT_AMPLITUDE_MV = 0.03
# An exactly repeated value for a whole second: real signals change by at least one ADC step within that
# time (the longest run in a clean 1000 Hz recording is ~25 ms); a stuck value means dropout or lead off.
STUCK_DURATION_S = 1.0
# Three flat leads remove a quarter of the ECG: reject rather than predict from it.
FLAT_LEADS_TO_REJECT = 3

# Clipping: a saturated amplifier flattens every beat that exceeds its rail at one identical value. Runs of at
# least CLIP_MIN_RUN_S of samples equal to the lead's maximum or minimum (up to float rounding of the file's
# scaling) are plateaus; a lead with CLIP_WARN_PLATEAUS of them has been clipped. Exact equality matters: a
# near-extreme tolerance would also catch the smooth crest of baseline wander or a flat TP segment that happens to
# be the lowest part of the lead. A clean lead may repeat a value for ~25 ms, but reaches its extreme once.
CLIP_TOLERANCE_FRACTION = 1e-4
CLIP_MIN_RUN_S = 0.008
CLIP_WARN_PLATEAUS = 3
CLIP_REJECT_FRACTION = 0.05  # half a second per 10 s: QRS voltages, which the models rely on, are lost

# High-frequency noise: power between 40 and 150 Hz (muscle tremor, electrode noise), mains bands excluded,
# as an RMS relative to the lead's QRS amplitude. A clean ECG scores 0.01-0.03 (the QRS itself has some energy
# there); 0.06 is visible fuzz; at 0.25 the noise is as tall as the QRS (RMS x ~4 = peak-to-peak).
NOISE_BAND_HZ = (40.0, 150.0)
MAINS_EXCLUSION_HZ = 2.0
MAINS_HARMONICS_HZ = (50.0, 60.0, 100.0, 120.0, 150.0)
NOISE_WARN_RATIO = 0.06
NOISE_REJECT_RATIO = 0.25
# Below this QRS amplitude the noise ratio uses this floor, so that a naturally small lead (aVL, III) is not
# called noisy for the noise every lead carries.
NOISE_QRS_FLOOR_MV = 0.5
# Baseline wander: how far the isoelectric (PR) level moves across beats, relative to the QRS amplitude.
# Breathing moves it by a few tenths of a mV; a drift taller than the QRS and than 1 mV (10 mm on paper) pushes
# the trace off the grid. The high-pass filter removes wander before analysis, so only a drift five times that
# (electrode motion, which also leaves filter transients on the beats) rejects the ECG.
WANDER_WARN_RATIO = 1.0
WANDER_REJECT_RATIO = 5.0
WANDER_QRS_FLOOR_MV = 1.0
# Noise rejects the ECG only when it is extreme in most leads; in a few leads it is a warning.
NOISY_LEAD_SHARE_TO_REJECT = 0.5

# Mains interference: an amplitude of 20 uV is 0.4 mm peak-to-peak on paper at 10 mm/mV, visible as fuzz.
POWERLINE_WARN_MV = 0.02

# Amplitude-normalised files: this many leads, all with the same peak-to-peak to within this fraction. Recorded
# leads differ several-fold (aVR against V2), so equal spans are a rescaling, never physiology.
NORMALISED_MIN_LEADS = 8
NORMALISED_SPREAD = 0.005

# Heart rate outside this range is not a resting ECG (or the beats were mis-detected).
MIN_HEART_RATE_BPM = 30.0
MAX_HEART_RATE_BPM = 220.0

# Beat detection works at ~250 Hz: enough for a QRS (energy below 40 Hz) and cheap on 1000 Hz input.
WORK_FS_HZ = 250.0
BANDPASS_HZ = (0.5, 40.0)
MIN_BEAT_SPACING_S = 60.0 / 300.0  # leaves room to detect (and reject) rates well above 220 bpm

# Windows around the QRS centre (energy peak), in seconds, on the median beat.
QRS_WINDOW_S = (-0.06, 0.06)
P_WINDOW_S = (-0.26, -0.10)
PR_LEVEL_WINDOW_S = (-0.10, -0.06)  # between P and QRS at usual PR intervals; the reference level for P and QRS


@dataclass(frozen=True)
class QualityFinding:
    """One problem found in the recording; ``leads`` names the affected leads (empty when it is the whole ECG)."""

    code: str  # stable identifier for software: "flat_lead", "clipping", "noise", ...
    severity: Severity
    message: str  # plain language for a clinician
    leads: tuple[str, ...] = ()


@dataclass(frozen=True)
class QualityReport:
    """The gate's decision: the worst severity among the findings, "ok" when there are none."""

    verdict: Verdict
    findings: tuple[QualityFinding, ...]

    def to_dict(self) -> dict:
        return {"verdict": self.verdict, "findings": [{**asdict(f), "leads": list(f.leads)} for f in self.findings]}


@dataclass(frozen=True)
class _SignalAnalysis:
    """What the checks share, computed once. Arrays cover the recorded leads only, in ``names`` order."""

    ecg: ECG
    names: tuple[str, ...]  # recorded (not missing) leads
    raw_mv: np.ndarray  # (L, n) the original samples
    has_signal: np.ndarray  # (L,) bool: not flat
    work_fs_hz: float
    smoothed_mv: np.ndarray  # (L, m) block-averaged to work_fs_hz, baseline kept (for wander)
    beats: np.ndarray  # (k,) QRS centres, sample indices at work_fs_hz
    median_beat: MedianBeat | None  # of the 0.5-40 Hz band-passed leads; None with too few whole beats
    spectrum_hz: np.ndarray  # (F,) Welch frequencies
    spectrum_mv2_per_hz: np.ndarray  # (L, F) Welch power spectral density of raw_mv

    def median_beat_part(self, lead: int | slice, window_s: tuple[float, float]) -> np.ndarray:
        """The median beat of ``lead`` over ``window_s`` (seconds relative to the QRS centre)."""
        start, stop = (self.median_beat.r_index + int(round(t * self.work_fs_hz)) for t in window_s)
        return self.median_beat.waveform_mv[lead, start : stop + 1]

    def qrs_amplitude_mv(self, floor_mv: float) -> np.ndarray:
        """(L,) peak-to-peak of each lead's median QRS, at least ``floor_mv`` so small leads are not over-judged."""
        return np.maximum(np.ptp(self.median_beat_part(slice(None), QRS_WINDOW_S), axis=1), floor_mv)


def check_quality(ecg: ECG) -> QualityReport:
    """Run every check on ``ecg`` and return the verdict with its findings."""
    findings = [*_check_duration(ecg), *_check_missing_leads(ecg), *_check_sampling_rate(ecg)]
    if ecg.duration_s >= MIN_ANALYSABLE_S:
        analysis = _analyse(ecg)
        for check in _SIGNAL_CHECKS:
            findings.extend(check(analysis))
    return QualityReport(_worst_severity(findings), tuple(findings))


def _worst_severity(findings: list[QualityFinding]) -> Verdict:
    severities = {f.severity for f in findings}
    return "reject" if "reject" in severities else "warn" if "warn" in severities else "ok"


def _leads_with_verb(leads: tuple[str, ...] | list[str], singular: str, plural: str) -> str:
    """ "Lead V3 is" / "Leads V1, V2 are": the subject of a finding's sentence."""
    if len(leads) == 1:
        return f"Lead {leads[0]} {singular}"
    return f"Leads {', '.join(leads)} {plural}"


# --- Checks on the record as a whole -------------------------------------------------------------------------


def _check_duration(ecg: ECG) -> list[QualityFinding]:
    slack_s = 1.0 / ecg.fs_hz
    if ecg.duration_s < MIN_DURATION_S - slack_s:
        message = (f"The recording lasts only {ecg.duration_s:.1f} s; at least {MIN_DURATION_S:g} s are needed "
                   f"(a standard ECG records {RECOMMENDED_DURATION_S:g} s).")
        return [QualityFinding("too_short", "reject", message)]
    if ecg.duration_s < RECOMMENDED_DURATION_S - slack_s:
        message = (f"The recording lasts {ecg.duration_s:.1f} s instead of the standard "
                   f"{RECOMMENDED_DURATION_S:g} s; results rest on fewer beats.")
        return [QualityFinding("too_short", "warn", message)]
    return []


def _check_missing_leads(ecg: ECG) -> list[QualityFinding]:
    missing = ecg.meta.missing_leads
    if not missing:
        return []
    if len(missing) > MAX_MISSING_LEADS_TOLERATED:
        message = (f"{_leads_with_verb(missing, 'was', 'were')} not recorded: too many leads are missing for a "
                   "reliable reading.")
        return [QualityFinding("missing_leads", "reject", message, tuple(missing))]
    message = f"{_leads_with_verb(missing, 'was', 'were')} not recorded; results rely on the other leads."
    return [QualityFinding("missing_leads", "warn", message, tuple(missing))]


def _check_sampling_rate(ecg: ECG) -> list[QualityFinding]:
    """A low rate loses what a resting-ECG cart keeps (IEC 60601-2-25 asks for 500 Hz): say what cannot be
    measured, without refusing the record, whose rhythm and broad waves still read."""
    rate = ecg.meta.original_fs_hz or ecg.fs_hz
    if rate >= LOW_RATE_HZ:
        return []
    message = (f"Recorded at {rate:g} Hz, below the {LOW_RATE_HZ:g} Hz a diagnostic ECG uses: details shorter than "
               f"about {2000 / rate:.0f} ms (pacing spikes, QRS notching, the exact onsets of P and QRS) are lost, "
               f"intervals are less precise, and noise above {rate / 2:g} Hz and mains interference cannot be "
               "checked.")
    if rate < MIN_MODEL_RATE_HZ:
        return [QualityFinding("low_sampling_rate", "warn", message + f" Below {MIN_MODEL_RATE_HZ:g} Hz the QRS "
                               "complex itself is blurred: the model outputs may be unreliable.")]
    return [QualityFinding("low_sampling_rate", "note", message)]


# --- The shared analysis -------------------------------------------------------------------------------------


def _analyse(ecg: ECG) -> _SignalAnalysis:
    names = ecg.present_leads
    rows = [ecg.leads.index(name) for name in names]
    raw = ecg.signal_mv[rows].astype(np.float64)
    factor = max(1, int(ecg.fs_hz // WORK_FS_HZ))
    work_fs = ecg.fs_hz / factor
    usable = raw.shape[1] // factor * factor
    # Block averaging is a crude low-pass, but it is cheap and what follows only needs content below 40 Hz.
    smoothed = raw[:, :usable].reshape(len(names), -1, factor).mean(axis=2)
    filtered = signal.sosfiltfilt(_bandpass_sos(work_fs), smoothed, axis=-1)
    beats = detect_r_peaks(filtered, work_fs, min_rr_s=MIN_BEAT_SPACING_S, rows=None)
    freqs, psd = ecg.spectrum  # the record's, which its filtering for the models reads too
    return _SignalAnalysis(
        ecg=ecg,
        names=names,
        raw_mv=raw,
        has_signal=_typical_amplitude(filtered, work_fs) >= FLAT_AMPLITUDE_MV,
        work_fs_hz=work_fs,
        smoothed_mv=smoothed,
        beats=beats,
        median_beat=median_beat(filtered, work_fs, beats),
        spectrum_hz=freqs,
        spectrum_mv2_per_hz=psd[rows],
    )


@lru_cache(maxsize=16)  # designing the filter costs as much as running it
def _bandpass_sos(fs_hz: float) -> np.ndarray:
    high = min(BANDPASS_HZ[1], 0.45 * fs_hz)
    return signal.butter(2, (BANDPASS_HZ[0], high), btype="bandpass", fs=fs_hz, output="sos")


def _typical_amplitude(filtered: np.ndarray, fs_hz: float) -> np.ndarray:
    """(L,) median over one-second blocks of the peak-to-peak: one spike does not make a flat lead look alive."""
    block = int(fs_hz)
    n_blocks = max(1, filtered.shape[1] // block)
    blocks = filtered[:, : n_blocks * block].reshape(filtered.shape[0], n_blocks, -1)
    return np.median(np.ptp(blocks, axis=2), axis=1)


# --- Checks on the signal ------------------------------------------------------------------------------------


def _check_flat_leads(a: _SignalAnalysis) -> list[QualityFinding]:
    flat = [name for name, alive in zip(a.names, a.has_signal) if not alive]
    stuck = {
        name: seconds for name, alive, seconds in zip(a.names, a.has_signal, _longest_constant_run_s(a))
        if alive and seconds >= STUCK_DURATION_S
    }
    severity: Severity = "reject" if len(flat) + len(stuck) >= FLAT_LEADS_TO_REJECT else "warn"
    findings = []
    if flat:
        message = _leads_with_verb(flat, "is flat (electrode probably off).", "are flat (electrodes probably off).")
        findings.append(QualityFinding("flat_lead", severity, message, tuple(flat)))
    for name, seconds in stuck.items():
        message = f"Lead {name} stays at one value for {seconds:.1f} s (signal lost; electrode may have come off)."
        findings.append(QualityFinding("flat_lead", severity, message, (name,)))
    return findings


def _longest_constant_run_s(a: _SignalAnalysis) -> np.ndarray:
    """(L,) longest stretch, in seconds, over which each lead repeats exactly the same value."""
    changes = np.diff(a.raw_mv, axis=1) != 0
    longest = np.zeros(len(a.names))
    for row, lead_changes in enumerate(changes):
        edges = np.concatenate(([-1], np.flatnonzero(lead_changes), [changes.shape[1]]))
        longest[row] = np.diff(edges).max()
    return longest / a.ecg.fs_hz


def _check_clipping(a: _SignalAnalysis) -> list[QualityFinding]:
    high, low = a.raw_mv.max(axis=1, keepdims=True), a.raw_mv.min(axis=1, keepdims=True)
    tolerance = CLIP_TOLERANCE_FRACTION * (high - low)
    at_extreme = (a.raw_mv >= high - tolerance) | (a.raw_mv <= low + tolerance)
    min_run = max(2, int(round(CLIP_MIN_RUN_S * a.ecg.fs_hz)))
    # An opening with a run-long element keeps exactly the runs at least that long.
    plateaus = ndimage.binary_opening(at_extreme, structure=np.ones((1, min_run), dtype=bool))
    n_plateaus = np.count_nonzero(np.diff(plateaus.astype(np.int8), axis=1) == 1, axis=1) + plateaus[:, 0]
    is_clipped = a.has_signal & (n_plateaus >= CLIP_WARN_PLATEAUS)
    clipped = [name for name, clipped_lead in zip(a.names, is_clipped) if clipped_lead]
    if not clipped:
        return []
    share = plateaus[is_clipped].mean(axis=1)
    severity: Severity = "reject" if share.max() >= CLIP_REJECT_FRACTION else "warn"
    message = (f"{_leads_with_verb(clipped, 'is', 'are')} cut off at the amplifier's limit (clipping, up to "
               f"{100 * share.max():.0f}% of the time): QRS voltages there are underestimated.")
    return [QualityFinding("clipping", severity, message, tuple(clipped))]


def _check_noise(a: _SignalAnalysis) -> list[QualityFinding]:
    if a.median_beat is None:
        return []
    freqs, psd = a.spectrum_hz, a.spectrum_mv2_per_hz
    in_band = (freqs >= NOISE_BAND_HZ[0]) & (freqs <= min(NOISE_BAND_HZ[1], 0.45 * a.ecg.fs_hz))
    for mains in MAINS_HARMONICS_HZ:
        in_band &= np.abs(freqs - mains) > MAINS_EXCLUSION_HZ
    noise_rms = np.sqrt(psd[:, in_band].sum(axis=1) * (freqs[1] - freqs[0]))
    return _excess_findings(
        a, noise_rms / a.qrs_amplitude_mv(NOISE_QRS_FLOOR_MV), "noise", NOISE_WARN_RATIO, NOISE_REJECT_RATIO,
        "high-frequency noise (muscle tremor or poor electrode contact)",
    )


def _check_baseline_wander(a: _SignalAnalysis) -> list[QualityFinding]:
    if a.median_beat is None:
        return []
    start, stop = (int(round(t * a.work_fs_hz)) for t in PR_LEVEL_WINDOW_S)
    beats = a.beats[(a.beats + start >= 0) & (a.beats + stop < a.smoothed_mv.shape[1])]
    pr_levels = np.median(a.smoothed_mv[:, beats[:, None] + np.arange(start, stop + 1)], axis=2)  # (L, k)
    wander_ratio = np.ptp(pr_levels, axis=1) / a.qrs_amplitude_mv(WANDER_QRS_FLOOR_MV)
    return _excess_findings(
        a, wander_ratio, "baseline_wander", WANDER_WARN_RATIO, WANDER_REJECT_RATIO,
        "strong baseline wander (breathing, movement or loose electrodes)",
    )


def _excess_findings(
    a: _SignalAnalysis, ratio: np.ndarray, code: str, warn_at: float, reject_at: float, problem: str
) -> list[QualityFinding]:
    """One finding for the leads whose ``ratio`` reaches ``warn_at``; reject when most reach ``reject_at``."""
    ratio = np.where(a.has_signal, ratio, 0.0)
    affected = [name for name, r in zip(a.names, ratio) if r >= warn_at]
    if not affected:
        return []
    extreme_share = np.mean(ratio[a.has_signal] >= reject_at) if a.has_signal.any() else 0.0
    severity: Severity = "reject" if extreme_share > NOISY_LEAD_SHARE_TO_REJECT else "warn"
    message = f"{_leads_with_verb(affected, 'shows', 'show')} {problem}."
    if severity == "reject":
        message += " The ECG is too disturbed to read; please record it again."
    return [QualityFinding(code, severity, message, tuple(affected))]


def _check_powerline(a: _SignalAnalysis) -> list[QualityFinding]:
    mains = powerline_in_spectrum(a.spectrum_hz, a.spectrum_mv2_per_hz)  # the spectrum the noise check uses
    if mains is None:
        return []
    freqs, psd = a.spectrum_hz, a.spectrum_mv2_per_hz
    distance = np.abs(freqs - mains)
    peak, around = distance <= 1.5, (distance > 2.0) & (distance <= 8.0)
    # A sinusoid's power is amplitude**2 / 2; subtract the broadband floor under the peak.
    excess_power = (psd[:, peak] - np.median(psd[:, around], axis=1, keepdims=True)).sum(axis=1)
    amplitude = np.sqrt(2 * np.maximum(excess_power, 0.0) * (freqs[1] - freqs[0]))
    affected = [name for name, amp in zip(a.names, amplitude) if amp >= POWERLINE_WARN_MV]
    if not affected:
        return []
    message = (f"{mains:g} Hz mains interference in {', '.join(affected)} (amplitude up to "
               f"{amplitude.max():.2f} mV); it is filtered out before analysis.")
    return [QualityFinding("powerline", "warn", message, tuple(affected))]


def _check_normalised_amplitudes(a: _SignalAnalysis) -> list[QualityFinding]:
    """Every lead spanning the same peak-to-peak to within a fraction of a percent is not a recording in
    millivolts but signals scaled lead by lead (LUDB's release does this): voltages mean nothing in it."""
    spans = np.ptp(a.raw_mv[a.has_signal], axis=1)
    if spans.size < NORMALISED_MIN_LEADS or spans.min() <= 0 or spans.max() / spans.min() > 1 + NORMALISED_SPREAD:
        return []
    message = (f"Every lead spans exactly {np.median(spans):.3g} mV from lowest to highest sample: the file holds "
               "signals rescaled lead by lead, not the recorded millivolts. Voltages (Sokolow-Lyon, Cornell) are "
               "not meaningful, and the models' estimates, which read amplitudes, may be wrong.")
    return [QualityFinding("normalised_amplitudes", "warn", message)]


def _check_heart_rate(a: _SignalAnalysis) -> list[QualityFinding]:
    if len(a.beats) < 2:
        message = "No heartbeats could be found in this recording; it cannot be analysed."
        return [QualityFinding("no_beats", "reject", message)]
    rate_bpm = 60.0 * a.work_fs_hz / np.median(np.diff(a.beats))
    if MIN_HEART_RATE_BPM <= rate_bpm <= MAX_HEART_RATE_BPM:
        return []
    message = (f"The detected heart rate of {rate_bpm:.0f} bpm is outside {MIN_HEART_RATE_BPM:.0f}-"
               f"{MAX_HEART_RATE_BPM:.0f} bpm; the beats were probably mis-detected in a disturbed recording.")
    return [QualityFinding("implausible_heart_rate", "reject", message)]


def _check_limb_reversal(a: _SignalAnalysis) -> list[QualityFinding]:
    """Left/right arm swap: lead I inverted (negative P and QRS) while aVR, normally negative, turns positive."""
    if a.median_beat is None or not {"I", "aVR"} <= set(a.names):
        return []
    lead_i, avr = a.names.index("I"), a.names.index("aVR")
    if not (a.has_signal[lead_i] and a.has_signal[avr]):
        return []
    reversed_arms = (
        _deflection(a, lead_i, P_WINDOW_S) < 0
        and _deflection(a, lead_i, QRS_WINDOW_S) < 0
        and _deflection(a, avr, QRS_WINDOW_S) > 0
    )
    if not reversed_arms:
        return []
    message = ("Lead I shows inverted P and QRS while aVR is upright: the left and right arm electrodes may be "
               "swapped. Check the electrodes and record again (dextrocardia gives a similar picture).")
    return [QualityFinding("limb_lead_reversal", "warn", message, ("I", "aVR"))]


def _deflection(a: _SignalAnalysis, lead: int, window_s: tuple[float, float]) -> float:
    """Signed size of the larger deflection of the median beat in ``window_s``, relative to the PR level."""
    part = a.median_beat_part(lead, window_s) - a.median_beat_part(lead, PR_LEVEL_WINDOW_S).mean()
    return float(part.max() if part.max() >= -part.min() else part.min())


_SIGNAL_CHECKS: tuple[Callable[[_SignalAnalysis], list[QualityFinding]], ...] = (
    _check_flat_leads,
    _check_clipping,
    _check_noise,
    _check_baseline_wander,
    _check_powerline,
    _check_normalised_amplitudes,
    _check_heart_rate,
    _check_limb_reversal,
)
