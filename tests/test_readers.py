"""Each reader recovers the real ECG written in its format, with lead names, units and rate intact."""

import datetime
import io
from pathlib import Path

import numpy as np
import pyedflib
import pytest
import wfdb
from wfdb.io.convert.matlab import wfdb_to_mat

from cardionets.ecg import STANDARD_LEADS, ECGError, load, load_upload
from cardionets.ecg.errors import CorruptFileError, FileTooLargeError, MissingLeadsError, SignalError
from tests.conftest import MORTARA_DEVICE

UV_PER_COUNT = 5.0  # 16-bit storage at 5 uV per count, as UK Biobank and most carts store
QUANTUM_MV = UV_PER_COUNT / 1000


def _write_wfdb(directory, ecg, name="rec", leads=STANDARD_LEADS, comments=("Age: 63", "Sex: Female")):
    rows = [STANDARD_LEADS.index(lead) for lead in leads]
    wfdb.wrsamp(
        name, fs=ecg.fs_hz, units=["mV"] * len(rows), sig_name=list(leads),
        p_signal=ecg.signal_mv[rows].T.astype(np.float64), fmt=["16"] * len(rows),
        adc_gain=[1000 / UV_PER_COUNT] * len(rows), baseline=[0] * len(rows), comments=list(comments),
        write_dir=str(directory),
    )
    return directory / f"{name}.hea"


def test_dicom_real_file_gives_twelve_leads_in_millivolts(mortara_ecg):
    assert mortara_ecg.meta.source_format == "dicom"
    assert mortara_ecg.fs_hz == 1000 and mortara_ecg.n_samples == 10000
    assert mortara_ecg.meta.original_units == "uV"
    assert mortara_ecg.meta.missing_leads == () and mortara_ecg.meta.derived_leads == ()
    # Einthoven's law holds on the recorded leads (III = II - I) to within the 1.25 uV quantum.
    residual = mortara_ecg.lead("II") - mortara_ecg.lead("I") - mortara_ecg.lead("III")
    assert np.abs(residual).max() < 0.01
    assert 0.5 < np.ptp(mortara_ecg.lead("V5")) < 3.0  # a normal R wave, in mV


def test_dicom_real_file_carries_demographics_and_cart_measurements(mortara_ecg):
    assert mortara_ecg.meta.sex == "F" and mortara_ecg.meta.age_years == 42
    for key, value in MORTARA_DEVICE.items():
        assert mortara_ecg.meta.device_measurements[key] == value
    assert "ECG NORMALE" in mortara_ecg.meta.interpretation
    assert mortara_ecg.meta.acquired == "2013-01-25 10:59"  # AcquisitionDateTime 20130125105919


def test_a_missing_or_damaged_recording_time_is_no_time_and_no_error():
    from cardionets.ecg.readers.base import acquisition_time

    assert acquisition_time("20130125105919", "%Y%m%d%H%M%S") == "2013-01-25 10:59"
    assert acquisition_time("2013-01-25", "%Y-%m-%d %H:%M", "%Y-%m-%d") == "2013-01-25"
    for text in (None, "", "yesterday", "20131325", "00000000"):
        assert acquisition_time(text, "%Y%m%d") is None


def test_wfdb_round_trip_by_header_path(tmp_path, mortara_500hz):
    ecg = load(_write_wfdb(tmp_path, mortara_500hz))
    assert ecg.meta.source_format == "wfdb" and ecg.fs_hz == 500
    assert np.abs(ecg.signal_mv - mortara_500hz.signal_mv).max() <= QUANTUM_MV / 2 + 1e-6
    assert ecg.meta.age_years == 63 and ecg.meta.sex == "F"
    assert ecg.meta.acquired is None  # this header gives no base date


def test_wfdb_upload_as_header_bytes_with_companion_dat(tmp_path, mortara_500hz):
    header = _write_wfdb(tmp_path, mortara_500hz)
    dat = (tmp_path / "rec.dat").read_bytes()
    ecg = load(header.read_bytes(), filename="rec.hea", companion_files={"rec.dat": dat})
    assert np.abs(ecg.signal_mv - mortara_500hz.signal_mv).max() <= QUANTUM_MV / 2 + 1e-6


def test_wfdb_upload_without_its_dat_file_says_which_file_is_missing(tmp_path, mortara_500hz):
    header = _write_wfdb(tmp_path, mortara_500hz)
    with pytest.raises(CorruptFileError, match="rec.dat"):
        load(header.read_bytes(), filename="rec.hea")


def test_wfdb_mat_record_as_physionet_challenge_writes_it(tmp_path, mortara_500hz, monkeypatch):
    _write_wfdb(tmp_path, mortara_500hz)
    monkeypatch.chdir(tmp_path)
    wfdb_to_mat("rec")
    ecg = load(tmp_path / "recm.hea")
    assert np.abs(ecg.signal_mv - mortara_500hz.signal_mv).max() <= QUANTUM_MV / 2 + 1e-6


def test_wfdb_eight_stored_leads_are_completed_to_twelve(tmp_path, mortara_500hz):
    stored = ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")
    ecg = load(_write_wfdb(tmp_path, mortara_500hz, leads=stored))
    assert set(ecg.meta.derived_leads) == {"III", "aVR", "aVL", "aVF"}
    # Derived from quantised I and II, so allow two quanta.
    assert np.abs(ecg.lead("aVF") - mortara_500hz.lead("aVF")).max() < 3 * QUANTUM_MV


def test_edf_round_trip_with_ecg_prefixed_labels_in_microvolts(tmp_path, mortara_500hz):
    path = tmp_path / "ecg.edf"
    signals_uv = mortara_500hz.signal_mv.astype(np.float64) * 1000
    headers = pyedflib.highlevel.make_signal_headers(
        [f"ECG {lead}" for lead in STANDARD_LEADS], dimension="uV", sample_frequency=500,
        physical_min=-5000, physical_max=5000,
    )
    header = pyedflib.highlevel.make_header(sex="Male", birthdate="1960-05-01",
                                            startdate=datetime.datetime(2021, 6, 30, 8, 15))
    pyedflib.highlevel.write_edf(str(path), signals_uv, headers, header)
    ecg = load(path)
    assert ecg.meta.source_format == "edf" and ecg.fs_hz == 500
    quantum_mv = 10000 / 65535 / 1000
    assert np.abs(ecg.signal_mv - mortara_500hz.signal_mv).max() <= quantum_mv
    assert ecg.meta.sex == "M" and ecg.meta.acquired == "2021-06-30 08:15"


def test_csv_with_header_time_column_and_unit_suffix(mortara_500hz):
    times = np.arange(mortara_500hz.n_samples) / 500
    table = np.column_stack([times, mortara_500hz.signal_mv.T * 1000])
    text = io.StringIO()
    header = "time," + ",".join(f"{lead} (uV)" for lead in STANDARD_LEADS)
    np.savetxt(text, table, delimiter=",", fmt="%.4f", header=header, comments="")
    ecg = load(text.getvalue().encode())
    assert ecg.meta.source_format == "csv" and ecg.fs_hz == pytest.approx(500)
    assert ecg.meta.original_units == "uV"
    assert np.abs(ecg.signal_mv - mortara_500hz.signal_mv).max() < 1e-5


def test_csv_without_header_or_units_infers_microvolts_and_a_10_s_record(mortara_500hz):
    text = io.StringIO()
    np.savetxt(text, np.round(mortara_500hz.signal_mv.T * 1000), delimiter=";", fmt="%d")
    ecg = load(text.getvalue().encode(), filename="export.txt")
    assert ecg.meta.original_units == "uV" and ecg.fs_hz == 500
    assert any("inferred uV" in note for note in ecg.meta.notes)
    assert any("assumed a 10 s recording" in note for note in ecg.meta.notes)


def test_npz_with_rate_and_lead_names(mortara_500hz):
    buffer = io.BytesIO()
    order = [9, 1, 0, 2, 3, 4, 5, 6, 7, 8, 10, 11]  # deliberately not the standard order
    names = np.array([STANDARD_LEADS[i] for i in order])
    np.savez(buffer, signal=mortara_500hz.signal_mv[order], fs=500.0, leads=names, units="mV")
    ecg = load(buffer.getvalue())
    assert ecg.meta.source_format == "numpy"
    np.testing.assert_allclose(ecg.signal_mv, mortara_500hz.signal_mv, atol=1e-6)


def test_npy_stored_samples_by_leads_is_transposed(mortara_500hz):
    buffer = io.BytesIO()
    np.save(buffer, mortara_500hz.signal_mv.T)
    ecg = load(buffer.getvalue(), fs_hz=500)
    np.testing.assert_allclose(ecg.signal_mv, mortara_500hz.signal_mv, atol=1e-6)


def test_pickled_numpy_object_array_is_refused_not_unpickled():
    buffer = io.BytesIO()
    np.save(buffer, np.array([{"lead": "I"}], dtype=object), allow_pickle=True)
    with pytest.raises(CorruptFileError, match="safely"):
        load(buffer.getvalue())


def test_declared_millivolts_holding_microvolt_numbers_is_refused_with_advice(mortara_500hz):
    buffer = io.BytesIO()
    np.savez(buffer, signal=mortara_500hz.signal_mv * 1000, fs=500.0, units="mV")
    with pytest.raises(SignalError, match="microvolts"):
        load(buffer.getvalue())


def test_single_lead_file_is_refused_as_missing_leads(mortara_500hz):
    buffer = io.BytesIO()
    np.savez(buffer, signal=mortara_500hz.signal_mv[1:2], fs=500.0, leads=np.array(["II"]))
    with pytest.raises(MissingLeadsError, match="only 1 standard lead"):
        load(buffer.getvalue())


def test_short_nan_gaps_are_bridged_and_noted(mortara_500hz):
    signal = mortara_500hz.signal_mv.copy()
    signal[4, 1000:1020] = np.nan
    buffer = io.BytesIO()
    np.savez(buffer, signal=signal, fs=500.0)
    ecg = load(buffer.getvalue())
    assert np.isfinite(ecg.signal_mv).all()
    assert any("gaps in lead aVL" in note for note in ecg.meta.notes)


def test_files_over_the_size_cap_are_refused_before_parsing(mortara_path):
    with pytest.raises(FileTooLargeError, match="limit"):
        load(mortara_path, max_bytes=1000)


def test_long_record_is_cropped_to_its_cleanest_10_s(mortara_500hz):
    # 70 s: seven copies of the real record, the first 40 s drowned in muscle-like noise.
    signal = np.tile(mortara_500hz.signal_mv, 7)
    noise = np.random.default_rng(1).normal(0, 0.3, signal.shape)
    noise[:, 40 * 500 :] = 0
    buffer = io.BytesIO()
    np.savez(buffer, signal=signal + noise, fs=500.0)
    ecg = load(buffer.getvalue())
    assert ecg.duration_s == pytest.approx(10)
    start_s = float(ecg.meta.notes[-1].split("starting at ")[1].split(" s")[0])
    assert start_s >= 40


def test_browser_upload_of_a_wfdb_pair_loads_from_the_header(tmp_path, mortara_500hz):
    header = _write_wfdb(tmp_path, mortara_500hz)
    files = {"rec.dat": (tmp_path / "rec.dat").read_bytes(), "rec.hea": header.read_bytes()}
    assert load_upload(files).meta.source_format == "wfdb"


def test_browser_upload_of_two_unrelated_files_is_refused_plainly(mortara_path):
    data = mortara_path.read_bytes()
    with pytest.raises(ECGError, match="one ECG at a time|only a WFDB record"):
        load_upload({"a.dcm": data, "b.dcm": data})


def test_wfdb_header_comments_give_age_and_sex_as_ludb_and_the_challenges_write_them():
    real = Path(__file__).resolve().parent / "data" / "real-ecg"
    ludb = load(real / "ludb" / "data" / "119.hea")  # "#<age>: 26", "#<sex>: M"
    assert (ludb.meta.age_years, ludb.meta.sex) == (26.0, "M")
    cinc = load(real / "cinc2021" / "records" / "E07506.hea")  # "#Age: 66", "#Sex: Female"
    assert (cinc.meta.age_years, cinc.meta.sex) == (66.0, "F")


def test_a_wfdb_header_s_base_date_and_time_are_the_recording_time(tmp_path, mortara_500hz):
    header = _write_wfdb(tmp_path, mortara_500hz)
    lines = header.read_text().splitlines()
    lines[0] += " 14:05:00 23/11/2019"  # the record line's optional base time and date
    header.write_text("\n".join(lines) + "\n")
    assert load(header).meta.acquired == "2019-11-23 14:05"
