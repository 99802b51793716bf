"""The ECG paper plot: page geometry, the plotly figure and the PNG export agree with ECG-paper conventions."""

import io
import struct

import numpy as np
import pytest
from pydicom.data import get_testdata_file

from cardionets.ecg import ECG, STANDARD_LEADS, ECGMetadata, load, preprocess
from cardionets.ecg.plot import (
    GAIN_MM_PER_MV,
    LEAD_ROWS,
    RHYTHM_LEAD,
    ecg_paper_figure,
    paper_layout,
    save_ecg_png,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def dicom_ecg() -> ECG:
    return load(get_testdata_file("waveform_ecg.dcm"))  # 10 s, 1000 Hz


def synthetic_ecg(duration_s: float = 10.0, fs_hz: float = 500.0, missing: tuple[str, ...] = ()) -> ECG:
    """Lead II steps from 0 to 1 mV at 1 s; other leads carry a small sine."""
    t = np.arange(round(duration_s * fs_hz)) / fs_hz
    signal = np.tile(0.2 * np.sin(2 * np.pi * 1.2 * t), (12, 1))
    signal[STANDARD_LEADS.index("II")] = (t >= 1.0).astype(float)
    for lead in missing:
        signal[STANDARD_LEADS.index(lead)] = 0.0
    meta = ECGMetadata(source_format="synthetic", original_fs_hz=fs_hz, original_leads=STANDARD_LEADS,
                       missing_leads=missing)
    return ECG(signal, fs_hz, meta)


def lead_traces(figure):
    """The signal traces: every trace the figure tags with a lead name in ``meta``."""
    return [trace for trace in figure.data if trace.meta]


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_SIGNATURE
    return struct.unpack(">II", data[16:24])  # IHDR width, height


def test_figure_has_one_trace_per_lead_in_printout_order_then_the_rhythm_strip(dicom_ecg):
    names = [trace.meta for trace in lead_traces(ecg_paper_figure(dicom_ecg))]
    assert names == [lead for row in LEAD_ROWS for lead in row] + [RHYTHM_LEAD]


def test_each_column_shows_the_next_quarter_of_10_s(dicom_ecg):
    columns = [[(p.start_s, p.stop_s) for p in paper_layout(dicom_ecg).panels[row * 4:(row + 1) * 4]]
               for row in range(3)]
    for spans in columns:
        assert spans == [(0.0, 2.5), (2.5, 5.0), (5.0, 7.5), (7.5, 10.0)]


def test_10_s_rhythm_strip_is_250_mm_long_on_a_page_with_margins(dicom_ecg):
    layout = paper_layout(dicom_ecg)
    x, _ = layout.panels[-1].trace_mm(dicom_ecg)
    assert x[-1] - x[0] == pytest.approx(250.0, abs=0.1)
    assert 0 < x[0] and x[-1] < layout.width_mm
    assert 250.0 < layout.width_mm <= 290.0


def test_a_1_mv_step_is_drawn_10_mm_tall():
    rhythm = lead_traces(ecg_paper_figure(synthetic_ecg()))[-1]
    assert np.ptp(np.asarray(rhythm.y, dtype=float)) == pytest.approx(1.0 * GAIN_MM_PER_MV)


def test_every_row_starts_with_a_1_mv_by_200_ms_calibration_pulse(dicom_ecg):
    layout = paper_layout(dicom_ecg)
    assert len(layout.calibration_pulses) == 4
    for pulse in layout.calibration_pulses:
        x, y = np.array(pulse).T
        assert np.ptp(y) == pytest.approx(10.0)  # 1 mV at 10 mm/mV
        assert np.ptp(x[y == y.max()]) == pytest.approx(5.0)  # 200 ms at 25 mm/s


def test_y_axis_is_anchored_to_x_so_a_millimetre_is_square(dicom_ecg):
    figure = ecg_paper_figure(dicom_ecg)
    assert figure.layout.yaxis.scaleanchor == "x"
    assert figure.layout.yaxis.scaleratio == 1


def test_figure_shows_paper_not_axis_ticks(dicom_ecg):
    figure = ecg_paper_figure(dicom_ecg)
    assert figure.layout.xaxis.showticklabels is False and figure.layout.yaxis.showticklabels is False


def test_legend_states_speed_gain_sampling_and_filtering(dicom_ecg):
    legend = paper_layout(preprocess(dicom_ecg)).legend
    assert "25 mm/s, 10 mm/mV" in legend
    assert "1000 Hz" in legend
    assert "low-pass 40 Hz" in legend
    assert "unfiltered" in paper_layout(dicom_ecg).legend


def test_thinning_for_display_keeps_the_qrs_peaks(dicom_ecg):
    layout = paper_layout(dicom_ecg)
    rhythm = lead_traces(ecg_paper_figure(dicom_ecg))[-1]
    _, full_y = layout.panels[-1].trace_mm(dicom_ecg)
    assert len(rhythm.y) < len(full_y)
    assert max(rhythm.y) == pytest.approx(full_y.max())
    assert min(rhythm.y) == pytest.approx(full_y.min())


def test_png_pixel_aspect_matches_the_paper(dicom_ecg):
    buffer = io.BytesIO()
    save_ecg_png(dicom_ecg, buffer, dpi=100)
    width_px, height_px = png_size(buffer.getvalue())
    layout = paper_layout(dicom_ecg)
    assert width_px == pytest.approx(layout.width_mm / 25.4 * 100, abs=1)
    assert width_px / height_px == pytest.approx(layout.width_mm / layout.height_mm, rel=0.005)


def test_png_is_written_to_a_path(tmp_path, dicom_ecg):
    destination = tmp_path / "ecg.png"
    save_ecg_png(dicom_ecg, destination, dpi=50, title="Test patient")
    assert destination.read_bytes()[:8] == PNG_SIGNATURE


def test_missing_leads_are_drawn_flat_and_labelled():
    ecg = synthetic_ecg(missing=("V3", "aVL"))
    traces = {trace.name: trace for trace in lead_traces(ecg_paper_figure(ecg))}
    assert {"V3 (missing)", "aVL (missing)"} <= traces.keys()
    assert np.ptp(np.asarray(traces["V3 (missing)"].y, dtype=float)) == 0.0
    save_ecg_png(ecg, io.BytesIO())


def test_a_5_s_record_shows_all_leads_over_its_whole_length():
    ecg = synthetic_ecg(duration_s=5.0)
    layout = paper_layout(ecg)
    assert layout.panels[-1].stop_s == pytest.approx(5.0)
    traces = lead_traces(ecg_paper_figure(ecg))
    assert len(traces) == 13 and all(len(trace.x) > 0 for trace in traces)


def test_a_record_longer_than_10_s_prints_its_first_10_s():
    layout = paper_layout(synthetic_ecg(duration_s=15.0))
    assert layout.panels[-1].stop_s == pytest.approx(10.0)
    assert "first 10 s of 15.0 s" in layout.legend


def test_leads_computed_from_others_are_labelled_derived_on_the_paper_and_in_the_caption(tmp_path, mortara_500hz):
    """A WFDB record of I, II and V1-V6 only: aVR, aVL, aVF (and III) are computed, and the printout says so."""
    import wfdb

    from cardionets.presentation import recording_description

    stored = ["I", "II", "V1", "V2", "V3", "V4", "V5", "V6"]
    signal = np.stack([mortara_500hz.lead(name) for name in stored], axis=1).astype(float)
    wfdb.wrsamp("eight", fs=500, units=["mV"] * 8, sig_name=stored, p_signal=signal, fmt=["16"] * 8,
                write_dir=str(tmp_path))
    ecg = load(tmp_path / "eight.hea")
    labels = {trace.name for trace in lead_traces(ecg_paper_figure(ecg))}
    assert {"aVR (derived)", "aVL (derived)", "aVF (derived)"} <= labels and "I" in labels and "V1" in labels
    caption = recording_description(ecg)
    assert "computed from the other limb leads, not recorded" in caption and "no conversions" not in caption
    assert "aVR" in caption
    original = recording_description(load(get_testdata_file("waveform_ecg.dcm")))
    assert original.endswith("as recorded, no conversions") and original.startswith("recorded 2013-01-25 10:59 · ")
    assert "resampled from the recorded 1000 Hz" in recording_description(mortara_500hz)
