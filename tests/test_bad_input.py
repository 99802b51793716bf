"""Whatever bytes arrive, `load` returns a valid ECG or raises an ECGError with a readable message.

Never another exception type, never a hang. Inputs: random bytes, truncated and mutated real files of every
format, wrong units, NaNs, a single lead, a two-hour record, XML entity bombs and external entities.
"""

import io
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pyedflib
import pytest
import wfdb
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cardionets.ecg import ECG, STANDARD_LEADS, ECGError, FileTooLargeError, load, resample
from cardionets.ecg.errors import CorruptFileError, MissingLeadsError, SignalError
from cardionets.ecg.readers import scratch
from tests.writers import vendor_files

# FUZZ_EXAMPLES=2000 make test runs a longer campaign; the default keeps the suite quick.
FUZZ = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "60")), deadline=5000,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


def _outcome(data: bytes, **kwargs):
    """Load and classify: an ECG, or an ECGError whose message is one or more plain sentences."""
    try:
        result = load(data, **kwargs)
    except ECGError as error:
        message = str(error)
        assert message and "Traceback" not in message and len(message) < 600
        return error
    assert isinstance(result, ECG)
    assert np.isfinite(result.signal_mv).all() and result.signal_mv.shape[0] == 12
    return result


@pytest.fixture(scope="module")
def real_files(mortara_path, mortara_500hz, tmp_path_factory) -> dict[str, bytes]:
    """The real ECG in each binary and text format the loader sniffs."""
    folder = tmp_path_factory.mktemp("formats")
    files = {"dicom": mortara_path.read_bytes()}
    npz = io.BytesIO()
    np.savez(npz, signal=mortara_500hz.signal_mv, fs=500.0)
    files["npz"] = npz.getvalue()
    csv = io.StringIO()
    np.savetxt(csv, mortara_500hz.signal_mv.T, delimiter=",", fmt="%.4f", header=",".join(STANDARD_LEADS), comments="")
    files["csv"] = csv.getvalue().encode()
    headers = pyedflib.highlevel.make_signal_headers(list(STANDARD_LEADS), dimension="uV", sample_frequency=500,
                                                     physical_min=-5000, physical_max=5000)
    pyedflib.highlevel.write_edf(str(folder / "r.edf"), mortara_500hz.signal_mv.astype(float) * 1000, headers)
    files["edf"] = (folder / "r.edf").read_bytes()
    files.update(vendor_files(mortara_500hz))
    return files


@FUZZ
@given(data=st.binary(max_size=4096))
def test_random_bytes(data):
    _outcome(data)


@FUZZ
@given(data=st.data())
def test_truncated_real_files(real_files, data):
    fmt = data.draw(st.sampled_from(sorted(real_files)))
    content = real_files[fmt]
    cut = data.draw(st.integers(min_value=0, max_value=len(content)))
    _outcome(content[:cut])


@FUZZ
@given(data=st.data())
def test_mutated_real_files(real_files, data):
    fmt = data.draw(st.sampled_from(sorted(real_files)))
    content = bytearray(real_files[fmt])
    for _ in range(data.draw(st.integers(min_value=1, max_value=20))):
        position = data.draw(st.integers(min_value=0, max_value=len(content) - 1))
        content[position] = data.draw(st.integers(min_value=0, max_value=255))
    _outcome(bytes(content))


@FUZZ
@given(scale=st.sampled_from([1e-6, 1e-3, 1.0, 1e3, 1e6]), units=st.sampled_from([None, "mV", "uV", "V"]))
def test_wrong_units_are_converted_or_refused(mortara_500hz, scale, units):
    buffer = io.BytesIO()
    np.save(buffer, mortara_500hz.signal_mv * scale)
    outcome = _outcome(buffer.getvalue(), units=units, fs_hz=500)
    if isinstance(outcome, ECG):  # accepted: then it must be in a physiological range
        assert 0.3 < np.ptp(outcome.lead("V5")) < 30


def test_all_nan_leads_become_missing_and_a_nan_file_is_refused(mortara_500hz):
    signal = mortara_500hz.signal_mv.copy()
    signal[6:8] = np.nan
    buffer = io.BytesIO()
    np.save(buffer, signal)
    ecg = load(buffer.getvalue(), fs_hz=500)
    assert ecg.meta.missing_leads == ("V1", "V2")
    buffer = io.BytesIO()
    np.save(buffer, np.full_like(signal, np.nan))
    with pytest.raises(MissingLeadsError, match="Every lead of this file .* is empty"):  # not "leads found: none"
        load(buffer.getvalue(), fs_hz=500)


def test_one_lead_csv_is_refused(mortara_500hz):
    text = "II\n" + "\n".join(f"{v:.4f}" for v in mortara_500hz.lead("II"))
    with pytest.raises(ECGError):
        load(text.encode())


def test_two_hour_record_is_cropped_to_ten_seconds(tmp_path, mortara_ecg):
    # 2 h of 12-lead ECG at 250 Hz in 16-bit WFDB: 43 MB, under the size cap, so it is read and cropped.
    two_hours = np.tile(np.asarray(resample(mortara_ecg, 250).signal_mv, dtype=np.float64), 720)
    wfdb.wrsamp("holter", fs=250, units=["mV"] * 12, sig_name=list(STANDARD_LEADS), p_signal=two_hours.T,
                fmt=["16"] * 12, adc_gain=[200] * 12, baseline=[0] * 12, write_dir=str(tmp_path))
    del two_hours
    started = time.perf_counter()
    ecg = load(tmp_path / "holter.hea")
    assert time.perf_counter() - started < 60
    assert ecg.duration_s == pytest.approx(10) and any("cropped" in note for note in ecg.meta.notes)


def test_two_hour_float_array_is_refused_by_size_before_parsing():
    header = np.lib.format.header_data_from_array_1_0(np.zeros((12, 2), dtype=np.float32))
    header["shape"] = (12, 2 * 3600 * 500)
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, header)
    huge = buffer.getvalue() + b"\0" * (12 * 2 * 3600 * 500 * 4)
    with pytest.raises(FileTooLargeError):
        load(huge)


BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
<!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
<!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
<!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
<!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
<!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">]>
<RestingECG><PatientDemographics><PatientLastName>&lol9;</PatientLastName></PatientDemographics></RestingECG>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE AnnotatedECG [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<AnnotatedECG xmlns="urn:hl7-org:v3"><id root="&secret;"/></AnnotatedECG>"""


@pytest.mark.parametrize("document", [BOMB, EXTERNAL_ENTITY], ids=["entity-bomb", "external-entity"])
def test_hostile_xml_is_refused_quickly(document):
    started = time.perf_counter()
    with pytest.raises(CorruptFileError, match="entities"):
        load(document)
    assert time.perf_counter() - started < 1


def test_xml_of_another_kind_is_unsupported_not_a_crash():
    with pytest.raises(ECGError, match="not an ECG format"):
        load(b"<?xml version='1.0'?><html><body>hello</body></html>")


def test_a_real_wfdb_signal_file_alone_asks_for_its_header():
    dat = Path(__file__).parent / "data" / "real-ecg" / "ptbxl" / "records100" / "00000" / "00001_lr.dat"
    with pytest.raises(ECGError, match=r"add 00001_lr\.hea and upload both files together"):
        load(dat.read_bytes(), filename=dat.name)
    with pytest.raises(ECGError, match="header"):
        load(dat)  # a path to the .dat alone, too
    assert load(dat.with_suffix(".hea")).signal_mv.shape[0] == 12  # with its header it reads


def test_a_two_second_record_is_refused_as_too_short(mortara_500hz):
    buffer = io.BytesIO()
    np.savez(buffer, signal=mortara_500hz.signal_mv[:, :500], fs=500.0)
    with pytest.raises(SignalError, match="at least 2 s"):
        load(buffer.getvalue())


REAL_PTBXL = Path(__file__).parent / "data" / "real-ecg" / "ptbxl" / "records100" / "00000"
MUSE_SAMPLE = next((Path(__file__).resolve().parent.parent / "samples" / "hcm").glob("*_ecg_muse.xml"))


@pytest.mark.parametrize("rate", ["-500", "0", "abc", "nan"])
def test_a_wfdb_header_with_an_impossible_rate_is_refused_not_read_at_250_hz(rate):
    """wfdb falls back to 250 Hz when it cannot read the rate: a -500 Hz record came out time-stretched."""
    header = (REAL_PTBXL / "00001_lr.hea").read_text().splitlines()
    fields = header[0].split()
    fields[2] = rate
    text = "\n".join([" ".join(fields), *header[1:]]) + "\n"
    dat = (REAL_PTBXL / "00001_lr.dat").read_bytes()
    with pytest.raises(CorruptFileError, match="sampling rate"):
        load(text.encode(), filename="00001_lr.hea", companion_files={"00001_lr.dat": dat})


@pytest.mark.parametrize("scale", ["-4.88", "0"])
def test_a_muse_file_with_a_non_positive_amplitude_scale_is_refused_not_inverted(scale):
    xml = MUSE_SAMPLE.read_text().replace("<LeadAmplitudeUnitsPerBit>4.88<", f"<LeadAmplitudeUnitsPerBit>{scale}<")
    with pytest.raises(CorruptFileError, match="amplitude scale"):
        load(xml.encode(), filename="ecg.xml")
    assert load(MUSE_SAMPLE).signal_mv.shape[0] == 12


def test_a_dicom_channel_with_a_negative_sensitivity_is_refused_not_inverted(mortara_path):
    import pydicom

    dataset = pydicom.dcmread(mortara_path)
    dataset.WaveformSequence[0].ChannelDefinitionSequence[1].ChannelSensitivity = -1.0
    buffer = io.BytesIO()
    dataset.save_as(buffer)
    with pytest.raises(CorruptFileError, match="ChannelSensitivity"):
        load(buffer.getvalue(), filename="ecg.dcm")


def test_a_csv_with_one_row_per_lead_is_read_as_its_docstring_says(mortara_500hz):
    signal = mortara_500hz.signal_mv
    rows = [",".join([lead, *(f"{v:.4f}" for v in signal[i])]) for i, lead in enumerate(STANDARD_LEADS)]
    ecg = load(("# fs: 500\n" + "\n".join(rows)).encode(), filename="by_lead.csv")
    assert ecg.fs_hz == 500 and np.abs(ecg.signal_mv - mortara_500hz.signal_mv).max() < 1e-3
    columns = "\n".join([",".join(STANDARD_LEADS), *(",".join(f"{v:.4f}" for v in mortara_500hz.signal_mv[:, t])
                                                     for t in range(mortara_500hz.signal_mv.shape[1]))])
    assert np.abs(load(("# fs: 500\n" + columns).encode()).signal_mv - mortara_500hz.signal_mv).max() < 1e-3


def test_uploads_read_from_disk_are_removed_and_leftovers_of_a_killed_process_are_cleared(tmp_path, monkeypatch):
    """WFDB and EDF are read from a scratch file; a broken EDF's message must not show the server's path, and
    scratch left by a process that died mid-read is cleared by the next read once it is an hour old."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    old_file, old_folder, fresh = (tmp_path / f"{scratch.PREFIX}{n}" for n in ("a.edf", "b", "c.edf"))
    old_file.write_bytes(b"an ECG")
    old_folder.mkdir()
    (old_folder / "r.dat").write_bytes(b"an ECG")
    fresh.write_bytes(b"a read in progress")
    hour_ago = time.time() - 2 * scratch.STALE_AFTER_S
    for path in (old_file, old_folder):
        os.utime(path, (hour_ago, hour_ago))
    broken = b"0       " + b"x" * 248  # an EDF header's first field, then nonsense
    with pytest.raises(CorruptFileError) as caught:
        load(broken, filename="ecg.edf")
    assert str(tmp_path) not in str(caught.value) and "cardionets-upload" not in str(caught.value)
    assert not old_file.exists() and not old_folder.exists() and fresh.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [fresh.name]  # the read's own scratch is gone too
