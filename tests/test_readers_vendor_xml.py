"""Vendor XML readers: GE MUSE, Philips, HL7 aECG and UK Biobank.

The real Mortara 12-lead ECG that pydicom ships (conftest's ``mortara_ecg``), resampled to each vendor's usual
rate, is written in each vendor's layout (GE MUSE by cardionets.ecg.writers, the others by tests/writers) and read
back through ``cardionets.ecg.load``; damaged and hostile files must fail with a typed, readable error.
"""

from __future__ import annotations

import base64
import re
import time
from dataclasses import dataclass
from fractions import Fraction
from types import ModuleType

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.signal import resample_poly

from cardionets.ecg import ECG, CorruptFileError, load
from cardionets.ecg.leads import STANDARD_LEADS, canonical_lead_name
from cardionets.ecg.readers import ge_muse, hl7_aecg, philips, philips_xli, ukbiobank
from cardionets.ecg.writers import ge_muse as ge_muse_writer
from cardionets.ecg.writers.recording import EXAMPLE_MEASUREMENTS as MEASUREMENTS
from cardionets.ecg.writers.recording import EXAMPLE_STATEMENTS as STATEMENTS
from cardionets.ecg.writers.recording import Recording
from tests.writers import hl7_aecg as hl7_aecg_writer
from tests.writers import philips as philips_writer
from tests.writers import philips_xli as xli_encoder
from tests.writers import ukbiobank as ukbiobank_writer

# The Mortara cart's own values for this record; the Bazett and Fridericia QTc differ so their keys can be told apart.
FLOAT32_SLACK_MV = 1e-5


@dataclass(frozen=True)
class VendorFormat:
    name: str
    writer: ModuleType
    reader: ModuleType
    fs_hz: int
    source_format: str
    stored_leads: tuple[str, ...] = STANDARD_LEADS
    stores_body_size: bool = True
    acquired: str = "2024-03-01 09:30"  # the writers' recording time, as the reader gives it back

    @property
    def half_count_mv(self) -> float:
        return self.writer.UV_PER_COUNT / 2 / 1000


MUSE = VendorFormat("ge_muse", ge_muse_writer, ge_muse, 500, "ge_muse_xml", ge_muse_writer.STORED_LEADS)
PHILIPS = VendorFormat("philips", philips_writer, philips, 500, "philips_xml")
AECG = VendorFormat("hl7_aecg", hl7_aecg_writer, hl7_aecg, 1000, "hl7_aecg", stores_body_size=False)
UK_BIOBANK = VendorFormat("ukbiobank", ukbiobank_writer, ukbiobank, 500, "ukbiobank_xml", acquired="2014-03-01 09:30")
FORMATS = [MUSE, PHILIPS, AECG, UK_BIOBANK]


def recording_at(source: ECG, fs_hz: int) -> Recording:
    ratio = Fraction(fs_hz) / Fraction(source.fs_hz)
    signal = resample_poly(source.signal_mv.astype(np.float64), ratio.numerator, ratio.denominator, axis=1)
    return Recording(signal, fs_hz, 42, "F", 168, 62, dict(MEASUREMENTS), list(STATEMENTS))


@dataclass(frozen=True)
class RoundTrip:
    vendor: VendorFormat
    recording: Recording
    ecg: ECG


@pytest.fixture(scope="module", params=FORMATS, ids=lambda vendor: vendor.name)
def round_trip(request, mortara_ecg) -> RoundTrip:
    vendor = request.param
    recording = recording_at(mortara_ecg, vendor.fs_hz)
    return RoundTrip(vendor, recording, load(vendor.writer.write(recording)))


# --- every format: what goes in comes out ------------------------------------------------------------------


def test_stored_leads_match_the_source_within_half_a_count(round_trip):
    for name in round_trip.vendor.stored_leads:
        row = STANDARD_LEADS.index(name)
        error = np.abs(round_trip.ecg.signal_mv[row] - round_trip.recording.signal_mv[row]).max()
        assert error <= round_trip.vendor.half_count_mv + FLOAT32_SLACK_MV, name


def test_the_ecg_has_the_standard_12_leads_at_the_file_rate_and_length(round_trip):
    ecg = round_trip.ecg
    assert ecg.leads == STANDARD_LEADS
    assert ecg.meta.missing_leads == ()
    assert ecg.fs_hz == round_trip.vendor.fs_hz
    assert ecg.n_samples == round_trip.recording.signal_mv.shape[1]  # the rhythm strip, not the median beat


def test_the_format_and_the_original_microvolt_units_are_recorded(round_trip):
    assert round_trip.ecg.meta.source_format == round_trip.vendor.source_format
    assert round_trip.ecg.meta.original_units == "uV"
    assert round_trip.ecg.meta.notes == ()


def test_demographics_survive(round_trip):
    meta, recording = round_trip.ecg.meta, round_trip.recording
    assert (meta.age_years, meta.sex) == (recording.age_years, recording.sex)
    if round_trip.vendor.stores_body_size:
        assert (meta.height_cm, meta.weight_kg) == (recording.height_cm, recording.weight_kg)
    else:
        assert (meta.height_cm, meta.weight_kg) == (None, None)


def test_device_measurements_survive_under_our_keys(round_trip):
    carried = round_trip.vendor.writer.CARRIED_MEASUREMENTS
    assert round_trip.ecg.meta.device_measurements == {key: MEASUREMENTS[key] for key in carried}


def test_interpretation_statements_survive_in_order(round_trip):
    assert round_trip.ecg.meta.interpretation == tuple(STATEMENTS)


def test_the_recording_time_survives(round_trip):
    assert round_trip.ecg.meta.acquired == round_trip.vendor.acquired


# --- format specifics ---------------------------------------------------------------------------------------


def test_muse_derives_the_four_limb_leads_it_does_not_store(mortara_ecg):
    recording = recording_at(mortara_ecg, MUSE.fs_hz)
    ecg = load(ge_muse_writer.write(recording))
    lead_i, lead_ii = recording.signal_mv[0], recording.signal_mv[1]
    expected = {"III": lead_ii - lead_i, "aVR": -(lead_i + lead_ii) / 2, "aVL": lead_i - lead_ii / 2,
                "aVF": lead_ii - lead_i / 2}
    assert ecg.meta.derived_leads == tuple(expected)
    for name, values in expected.items():  # two quantised leads combined: at most one count off
        assert np.abs(ecg.lead(name) - values).max() <= 2 * MUSE.half_count_mv + FLOAT32_SLACK_MV, name


def test_muse_file_starting_with_its_doctype_line_loads(mortara_ecg):
    data = ge_muse_writer.write(recording_at(mortara_ecg, MUSE.fs_hz))
    assert data.splitlines()[1] == ge_muse_writer.DOCTYPE.encode()
    assert load(data).meta.source_format == "ge_muse_xml"


def test_utf16_muse_file_reads_like_the_iso_8859_1_one(mortara_ecg):
    recording = recording_at(mortara_ecg, MUSE.fs_hz)
    utf16 = load(ge_muse_writer.write(recording, encoding="UTF-16"))
    np.testing.assert_array_equal(utf16.signal_mv, load(ge_muse_writer.write(recording)).signal_mv)


def test_muse_file_declaring_utf8_but_holding_latin1_names_still_loads(mortara_ecg):
    latin1 = ge_muse_writer.write(recording_at(mortara_ecg, MUSE.fs_hz))
    mislabelled = latin1.replace(b'encoding="ISO-8859-1"', b'encoding="UTF-8"', 1)
    mislabelled = mislabelled.replace(b"<RestingECG>", "<RestingECG><!-- Müller -->".encode("latin-1"), 1)
    np.testing.assert_array_equal(load(mislabelled).signal_mv, load(latin1).signal_mv)


def test_philips_uncompressed_base64_reads_like_xli(mortara_ecg):
    recording = recording_at(mortara_ecg, PHILIPS.fs_hz)
    plain = load(philips_writer.write(recording, compressed=False))
    np.testing.assert_array_equal(plain.signal_mv, load(philips_writer.write(recording)).signal_mv)


def test_philips_1_03_file_without_lead_labels_or_rate_attributes_reads_like_1_04(mortara_ecg):
    recording = recording_at(mortara_ecg, PHILIPS.fs_hz)
    older = load(philips_writer.write(recording, version="1.03"))
    np.testing.assert_array_equal(older.signal_mv, load(philips_writer.write(recording)).signal_mv)
    assert older.meta.original_units == "uV"


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(-2000, 2000), min_size=3, max_size=3000))
def test_xli_codec_restores_every_sample(samples):
    (decoded,) = philips_xli.decode_leads(xli_encoder.encode_leads([np.array(samples)]))
    np.testing.assert_array_equal(decoded, samples)


# --- damaged and hostile files --------------------------------------------------------------------------------
# Damaged files go straight to the reader: load() would wrap any stray exception, hiding an untyped one.


def _replace_element_text(data: bytes, tag: bytes, new_text: bytes) -> bytes:
    """The document with the text of every <tag> element replaced."""
    return re.sub(rb"(<" + tag + rb"\b[^>]*>)[^<]*(</" + tag + rb">)", rb"\g<1>" + new_text + rb"\g<2>", data)


@pytest.mark.parametrize("keep", ["half the bytes", "whole leads only"])
def test_truncated_xli_data_raises_corrupt_file_error(mortara_ecg, keep):
    data = philips_writer.write(recording_at(mortara_ecg, PHILIPS.fs_hz))
    blob = base64.b64decode(b"".join(re.search(rb"<parsedwaveforms[^>]*>([^<]*)<", data).group(1).split()))
    first_lead_bytes = philips_xli.CHUNK_HEADER_BYTES + int.from_bytes(blob[:4], "little")
    cut = len(blob) // 2 if keep == "half the bytes" else 3 * first_lead_bytes
    damaged = _replace_element_text(data, b"parsedwaveforms", base64.b64encode(blob[:cut]))
    with pytest.raises(CorruptFileError, match="Philips waveform data"):
        philips.read(damaged)


def test_muse_lead_with_bad_base64_raises_corrupt_file_error(mortara_ecg):
    data = ge_muse_writer.write(recording_at(mortara_ecg, MUSE.fs_hz))
    with pytest.raises(CorruptFileError, match="not valid Base64"):
        ge_muse.read(_replace_element_text(data, b"WaveFormData", b"AAAA*not-base64*"))


def test_muse_lead_shorter_than_announced_raises_corrupt_file_error(mortara_ecg):
    data = ge_muse_writer.write(recording_at(mortara_ecg, MUSE.fs_hz))
    with pytest.raises(CorruptFileError, match="announces"):
        ge_muse.read(_replace_element_text(data, b"LeadSampleCountTotal", b"4999"))


def test_muse_file_without_a_rhythm_waveform_raises_corrupt_file_error(mortara_ecg):
    data = ge_muse_writer.write(recording_at(mortara_ecg, MUSE.fs_hz))
    median_only = re.sub(rb"<Waveform>\s*<WaveformType>Rhythm.*?</Waveform>", b"", data, flags=re.DOTALL)
    with pytest.raises(CorruptFileError, match="no rhythm waveform"):
        ge_muse.read(median_only)


ROOTS = ["RestingECG", "restingecgdata", "AnnotatedECG", "CardiologyXML"]


@pytest.mark.parametrize("root", ROOTS)
def test_entity_expansion_bomb_is_refused_quickly(root):
    levels = ['<!ENTITY lol0 "lol">'] + [f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)]
    bomb = f'<?xml version="1.0"?>\n<!DOCTYPE {root} [\n{chr(10).join(levels)}\n]>\n<{root}>&lol9;</{root}>'
    started = time.perf_counter()
    with pytest.raises(CorruptFileError, match="entities"):
        load(bomb.encode())
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize("root", ROOTS)
def test_external_entity_is_refused(root):
    probe = f'<?xml version="1.0"?>\n<!DOCTYPE {root} [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n<{root}>&x;</{root}>'
    with pytest.raises(CorruptFileError, match="entities"):
        load(probe.encode())


# --- independent cross-check: ecgdatakit must read our files to the same samples ----------------------------


@pytest.mark.parametrize(
    ("vendor", "options"),
    [(MUSE, {}), (PHILIPS, {}), (PHILIPS, {"compressed": False}), (PHILIPS, {"version": "1.03"}), (AECG, {})],
    ids=["ge_muse", "philips_xli", "philips_uncompressed", "philips_1_03", "hl7_aecg"],
)
def test_ecgdatakit_reads_the_same_samples_as_our_reader(vendor, options, mortara_ecg, tmp_path):
    ecgdatakit = pytest.importorskip("ecgdatakit.parsing")
    data = vendor.writer.write(recording_at(mortara_ecg, vendor.fs_hz), **options)
    path = tmp_path / "ecg.xml"
    path.write_bytes(data)
    record = ecgdatakit.FileParser.parse(path, units="uV")
    theirs = {canonical_lead_name(lead.label): lead.samples for lead in record.leads}
    ours = {canonical_lead_name(name): values for name, values in vendor.reader.read(data).named_signals.items()}
    assert theirs.keys() == ours.keys() == set(vendor.stored_leads)
    for name, values in ours.items():
        np.testing.assert_allclose(values, theirs[name], rtol=0, atol=1e-9, err_msg=name)


def test_xli_decompression_bomb_is_refused():
    # One lead of LZW codes that each repeat a growing run of zero bytes: kilobytes that expand past megabytes.
    codes = [0] + list(range(256, 1023)) * 20
    bits = "".join(f"{code:010b}" for code in codes)
    bits += "0" * (-len(bits) % 8)  # pad at the end, as the codes are packed most-significant bit first
    payload = int(bits, 2).to_bytes(len(bits) // 8, "big")
    chunk = len(payload).to_bytes(4, "little") + bytes(4) + payload
    with pytest.raises(CorruptFileError, match="expands beyond"):
        philips_xli.decode_leads(chunk)
