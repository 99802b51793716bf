"""Issue 25, item 2: no small upload takes the server down.

Every file here is under the upload cap and, before the readers bounded what they decode, took gigabytes or tens
of seconds to read. Each is read as the app reads uploads, in the isolated reader's worker process, here capped at
1 GiB of address space (numpy, scipy, wfdb and pydicom take about half of it): each must be refused by its
reader's own bound (a typed error, no MemoryError behind it) within 10 s. The worker is the second line: a file
that kills it or never finishes gets its own sentence, and the next file is read by a fresh worker.
"""

import io
import os
import time

import numpy as np
import pytest

from cardionets.ecg import ECG, ECGError, load
from cardionets.ecg.isolated import (
    IsolatedReader,
    ReaderBugError,
    ReaderStoppedError,
    ReadTimeoutError,
    shared_reader,
)
from cardionets.ecg.readers import xml
from tests import crafted_files
from tests.reader_worker_that_misbehaves import DIES, HANGS, RAISES
from tests.writers import vendor_files

FUZZ_MEMORY_BYTES = 2**30


@pytest.fixture(scope="module")
def capped_reader():
    reader = IsolatedReader(memory_bytes=FUZZ_MEMORY_BYTES, timeout_s=10).start()
    yield reader
    reader.close()


@pytest.fixture(scope="module")
def vendor(mortara_500hz) -> dict[str, bytes]:
    return vendor_files(mortara_500hz)


CRAFTED = {
    "npz of zeros (470 kB, 3.8 GB as float64)": lambda dicom, vendor: crafted_files.npz_of_zeros(),
    "WFDB skew of a billion samples": lambda dicom, vendor: crafted_files.wfdb_with_huge_skew(),
    "Philips XLI with 6,000 chunks": lambda dicom, vendor: crafted_files.philips_with_many_chunks(
        vendor["philips_xml"]),
    "Philips XLI with 40 small chunks": lambda dicom, vendor: crafted_files.philips_with_many_chunks(
        vendor["philips_xml"], 40),
    "8-bit DICOM of 60 MB": lambda dicom, vendor: crafted_files.dicom_8bit_60mb(dicom),
    "XML with 15 million elements": lambda dicom, vendor: crafted_files.xml_with_millions_of_elements(),
    "XML with 3 million elements in 12 MB": lambda dicom, vendor: crafted_files.xml_with_millions_of_elements(
        3_000_000),
    "XML nested 9 million deep": lambda dicom, vendor: crafted_files.xml_nested_deep(),
    "XML nested 150 deep": lambda dicom, vendor: crafted_files.xml_nested_deep(xml.MAX_DEPTH + 50),
    "HL7 aECG with 20 million digits": lambda dicom, vendor: crafted_files.hl7_with_a_huge_digit_run(
        vendor["hl7_aecg"]),
    "CSV of 60 MB": lambda dicom, vendor: crafted_files.csv_of_zeros(),
}


@pytest.mark.parametrize("name", list(CRAFTED))
def test_a_small_file_built_to_decode_into_gigabytes_is_refused_by_its_reader_before_allocating(
        name, capped_reader, mortara_path, vendor):
    files = CRAFTED[name](mortara_path.read_bytes(), vendor)
    assert sum(len(data) for data in files.values()) < 64 * 2**20  # under the upload cap
    started = time.perf_counter()
    with pytest.raises(ECGError) as refused:
        capped_reader.load_upload(files)
    assert time.perf_counter() - started < 10
    assert not isinstance(refused.value, (ReaderStoppedError, ReadTimeoutError)), str(refused.value)
    assert not isinstance(refused.value.__cause__, MemoryError), str(refused.value)  # bounded, not run out
    assert "Traceback" not in str(refused.value) and len(str(refused.value)) < 400


def test_the_isolated_reader_gives_the_same_ecg_as_reading_in_process(capped_reader, mortara_path, vendor):
    files = {"ecg.dcm": mortara_path.read_bytes(), **{f"{name}.xml": data for name, data in vendor.items()}}
    for name, data in files.items():
        isolated, direct = capped_reader.load_upload({name: data}), load(data, filename=name)
        assert isinstance(isolated, ECG) and isolated.meta == direct.meta and isolated.fs_hz == direct.fs_hz
        assert (isolated.signal_mv == direct.signal_mv).all()
    assert capped_reader.load_path(mortara_path).meta == load(mortara_path).meta


def test_a_file_that_kills_or_hangs_the_worker_gets_a_sentence_and_the_next_file_is_read(mortara_path):
    reader = IsolatedReader(timeout_s=3, worker_module="tests.reader_worker_that_misbehaves").start()
    dicom = mortara_path.read_bytes()
    try:
        with pytest.raises(ReaderStoppedError, match="stopped its reader process"):
            reader.load_upload({f"{DIES}.dcm": dicom})
        assert isinstance(reader.load_upload({"next.dcm": dicom}), ECG)
        started = time.perf_counter()
        with pytest.raises(ReadTimeoutError, match="took over 3 s"):
            reader.load_upload({f"{HANGS}.dcm": dicom})
        assert time.perf_counter() - started < 8
        assert isinstance(reader.load_upload({"after.dcm": dicom}), ECG)
        with pytest.raises(ECGError, match="could not be read") as refused:  # the worker answers, and lives
            reader.load_upload({f"{RAISES}.dcm": dicom})
        assert isinstance(refused.value.__cause__, ReaderBugError)
        assert isinstance(reader.load_upload({"last.dcm": dicom}), ECG)
    finally:
        reader.close()


def test_a_zip_of_a_version_zipfile_cannot_read_is_refused_not_a_crash(capped_reader, mortara_500hz):
    """Found by the fuzz campaign: a mutated .npz whose central directory asks for zip version 18.1 made zipfile
    raise NotImplementedError while the format was being sniffed, which escaped `load` and stopped the worker."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, signal=mortara_500hz.signal_mv, fs=np.array(500.0))
    data = bytearray(buffer.getvalue())
    directory = data.index(b"PK\x01\x02")
    data[directory + 6] = 181  # "version needed to extract": 18.1, above the 6.3 zipfile reads
    with pytest.raises(ECGError):
        load(bytes(data))
    with pytest.raises(ECGError) as refused:
        capped_reader.load_upload({"ecg.npz": bytes(data)})
    assert not isinstance(refused.value, ReaderStoppedError)


def test_a_worker_that_runs_out_of_memory_gives_a_typed_error_and_recovers(mortara_path, mortara_500hz):
    # 19 minutes of 12 leads at 500 Hz as float32: 46 MB, under every bound, so only the address-space cap stops
    # it in a worker given about 100 MB above its imports.
    buffer = io.BytesIO()
    np.savez(buffer, signal=np.tile(mortara_500hz.signal_mv, 190), fs=np.array(500.0))
    reader = IsolatedReader(memory_bytes=600 * 2**20).start()
    try:
        with pytest.raises(ECGError) as refused:
            reader.load_upload({"long.npz": buffer.getvalue()})
        # Out of memory inside a reader is a MemoryError; where a native library aborts instead, the worker dies.
        assert isinstance(refused.value.__cause__, MemoryError) or isinstance(refused.value, ReaderStoppedError)
        assert isinstance(reader.load_upload({"ecg.dcm": mortara_path.read_bytes()}), ECG)
    finally:
        reader.close()


def test_the_shared_reader_is_one_worker_and_can_be_turned_off(monkeypatch, mortara_path):
    assert shared_reader() is shared_reader()
    monkeypatch.setenv("CARDIONETS_READ_IN_PROCESS", "1")
    in_process = IsolatedReader.from_environment()
    assert in_process.in_process and isinstance(in_process.load_path(mortara_path), ECG)
    assert in_process._worker is None  # no process was started



def test_a_small_fuzz_campaign_gives_no_crash_hang_or_memory_error():
    """`make fuzz` runs 2,000 mutants per format (docs/security.md has its last result); here 15 per format."""
    from tests.fuzz_readers import FAILURES, campaign, summary_table

    # New mutants each run; a failure names its seed, for `python -m tests.fuzz_readers --seed`.
    seed = int(time.time()) % 100_000
    outcomes = campaign(per_format=int(os.environ.get("FUZZ_PER_FORMAT", "15")), seed=seed)
    failures = [f"{o.format}: {o.kind} {o.detail[:160]}" for o in outcomes if o.kind in FAILURES]
    assert not failures, f"seed {seed}\n" + summary_table(outcomes) + "\n" + "\n".join(failures)
    assert {o.format for o in outcomes} >= {"dicom", "wfdb", "edf", "csv", "npy", "npz", "ge_muse_xml",
                                            "philips_xml", "hl7_aecg", "ukbiobank_xml"}


def test_reading_works_when_the_server_holds_over_a_thousand_open_files(mortara_path):
    """A busy server (one socket per browser tab) holds descriptors past select()'s limit of 1024, where select
    fails; the reader waits with poll()."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1300:
        pytest.skip("this machine allows too few open files")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1300), hard))
    held = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    reader = IsolatedReader().start()
    try:
        assert reader._worker.stdout.fileno() > 1024
        assert isinstance(reader.load_upload({"ecg.dcm": mortara_path.read_bytes()}), ECG)
    finally:
        reader.close()
        for descriptor in held:
            os.close(descriptor)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_the_worker_is_not_handed_the_server_s_secrets(monkeypatch, mortara_path):
    monkeypatch.setenv("CARDIONETS_ADMIN_PASSWORD_HASH", "scrypt$secret")
    monkeypatch.setenv("HF_TOKEN", "hf_secret")
    reader = IsolatedReader().start()
    try:
        reader.load_path(mortara_path)  # the worker is up and running
        with open(f"/proc/{reader._worker.pid}/environ", "rb") as handle:
            environment = handle.read()
    except OSError:
        pytest.skip("no /proc here")
    finally:
        reader.close()
    assert b"secret" not in environment and b"OPENBLAS_NUM_THREADS=1" in environment
