"""The canonical ECG: the one signal container every reader returns and every consumer takes."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from scipy import signal

from .leads import STANDARD_LEADS

# Keys of cart measurements, shared by our own measurements and the device's values read from a file.
MEASUREMENT_KEYS: tuple[str, ...] = (
    "hr_bpm", "rr_ms", "pr_ms", "qrs_ms", "qt_ms", "qtc_bazett_ms", "qtc_fridericia_ms",
    "p_axis_deg", "qrs_axis_deg", "t_axis_deg",
)


@dataclass(frozen=True)
class ECGMetadata:
    """What the file said about the recording, and what the reader did to it.

    ``device_measurements`` uses the keys of MEASUREMENT_KEYS; a QTc whose formula the file does not state is
    stored under ``qtc_ms``. Demographics are None when the file does not carry them.
    """

    source_format: str
    original_fs_hz: float
    original_leads: tuple[str, ...]
    derived_leads: tuple[str, ...] = ()
    missing_leads: tuple[str, ...] = ()
    original_units: str = "mV"
    age_years: float | None = None
    sex: str | None = None  # "M" or "F"
    height_cm: float | None = None
    weight_kg: float | None = None
    device_measurements: dict[str, float] = field(default_factory=dict)
    interpretation: tuple[str, ...] = ()
    acquired: str | None = None  # when the ECG was recorded, "YYYY-MM-DD HH:MM" (or a date alone), as the file says
    notes: tuple[str, ...] = ()  # what loading changed: units converted, window selected, gaps filled

    def with_note(self, note: str) -> ECGMetadata:
        return dataclasses.replace(self, notes=(*self.notes, note))


@dataclass(frozen=True, eq=False)
class ECG:
    """A 12-lead ECG: float32 millivolts, shape (12, n_samples), leads in STANDARD_LEADS order."""

    signal_mv: np.ndarray  # (12, T) float32, mV
    fs_hz: float
    meta: ECGMetadata

    leads = STANDARD_LEADS

    def __post_init__(self) -> None:
        signal = np.ascontiguousarray(self.signal_mv, dtype=np.float32)
        if signal.ndim != 2 or signal.shape[0] != len(STANDARD_LEADS):
            raise ValueError(f"ECG signal must have shape (12, n_samples), got {signal.shape}")
        if not np.isfinite(signal).all():
            raise ValueError("ECG signal must be finite")
        if not self.fs_hz > 0:
            raise ValueError(f"sampling rate must be positive, got {self.fs_hz}")
        signal.setflags(write=False)
        object.__setattr__(self, "signal_mv", signal)
        object.__setattr__(self, "fs_hz", float(self.fs_hz))

    @property
    def n_samples(self) -> int:
        return self.signal_mv.shape[1]

    @property
    def duration_s(self) -> float:
        return self.n_samples / self.fs_hz

    @property
    def present_leads(self) -> tuple[str, ...]:
        return tuple(name for name in STANDARD_LEADS if name not in self.meta.missing_leads)

    @cached_property
    def spectrum(self) -> tuple[np.ndarray, np.ndarray]:
        """Welch power spectrum of every lead over 2 s segments: ((F,) Hz, (12, F) mV^2/Hz). Cached on the record
        because the quality check and each filtering of this record (for the models, for the measurements) all
        read it, and it costs about as much as the filtering itself."""
        nperseg = int(min(self.n_samples, 2 * self.fs_hz))
        freqs, power = signal.welch(self.signal_mv.astype(np.float64), fs=self.fs_hz, nperseg=nperseg, axis=-1)
        freqs.setflags(write=False)
        power.setflags(write=False)
        return freqs, power

    def lead(self, name: str) -> np.ndarray:
        """One lead's samples in mV, by standard name ("II", "V5")."""
        return self.signal_mv[STANDARD_LEADS.index(name)]

    def with_signal(self, signal_mv: np.ndarray, fs_hz: float | None = None, note: str | None = None) -> ECG:
        """The same recording with new samples (filtered, resampled, cropped); metadata carried over."""
        meta = self.meta.with_note(note) if note else self.meta
        return ECG(signal_mv, self.fs_hz if fs_hz is None else fs_hz, meta)
