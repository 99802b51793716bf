"""What the app's pages call, without Streamlit: background jobs, the admin lock, unpacking uploaded archives,
the active-weights pointer, and the PDF report on a real result."""

import hashlib
import io
import sys
import time
import zipfile
from pathlib import Path

import pytest

from cardionets.admin_auth import (
    ADMIN_HASH_SETTING,
    LEGACY_HASH_SETTING,
    configured_hash,
    hash_password,
    password_matches,
)
from cardionets.bundle import DEFAULT_BUNDLE, BundleError, active_bundle, promote
from cardionets.ecg import ECGError, load
from cardionets.inference import CardioNets
from cardionets.jobs import launch, list_jobs
from cardionets.report import pdf_report
from cardionets.screening import extract_archive
from cardionets.throttle import Backoff


@pytest.fixture(autouse=True)
def private_workspace(tmp_path, monkeypatch):
    monkeypatch.setenv("CARDIONETS_HOME", str(tmp_path / "workspace"))
    monkeypatch.delenv("CARDIONETS_WEIGHTS", raising=False)


def wait(job, seconds: float = 30):
    deadline = time.time() + seconds
    while job.status == "running" and time.time() < deadline:
        time.sleep(0.1)
    return job.status


def test_a_job_runs_in_the_background_logs_and_reports_success_or_failure():
    ok = launch("ok", [sys.executable, "-c", "print('hello from the job')"])
    bad = launch("bad", [sys.executable, "-c", "import sys; print('boom'); sys.exit(3)"])
    assert wait(ok) == "finished" and ok.tail() == "hello from the job"
    assert wait(bad) == "failed" and bad.exit_code == 3 and "boom" in bad.tail()
    assert {job.label for job in list_jobs()} == {"ok", "bad"}  # found again from disk


def test_a_cancelled_job_stops_with_its_children():
    job = launch("slow", ["/bin/sh", "-c", "sleep 30 & sleep 30; wait"])
    time.sleep(0.3)
    assert job.status == "running"
    job.cancel()
    assert wait(job, 5) == "cancelled"


def test_the_admin_lock_uses_salted_scrypt_and_still_reads_the_old_sha256(monkeypatch):
    assert configured_hash() is None  # nothing configured: admin disabled
    line = hash_password("s3cret")
    assert line.startswith("scrypt$16384$8$1$") and line != hash_password("s3cret")  # a fresh salt each time
    found = configured_hash({ADMIN_HASH_SETTING: line})  # from st.secrets
    assert found is not None and not found.legacy
    assert password_matches("s3cret", found) and not password_matches("S3cret", found)
    assert not password_matches("", found) and not password_matches("s3cret", None)
    for malformed in ("s3cret", line[:-2], line.replace("$16384$", "$1000$"), line.replace("$16384$", "$33554432$"),
                      "scrypt$16384$8$1$00$" + "0" * 64):  # a password, truncated, bad or huge cost, short salt
        monkeypatch.setenv(ADMIN_HASH_SETTING, malformed)
        assert configured_hash() is None, malformed
    monkeypatch.delenv(ADMIN_HASH_SETTING)
    legacy = hashlib.sha256(b"s3cret").hexdigest()
    monkeypatch.setenv(LEGACY_HASH_SETTING, legacy.upper())
    old = configured_hash()
    assert old.legacy and password_matches("s3cret", old) and not password_matches("s3cre", old)
    monkeypatch.setenv(LEGACY_HASH_SETTING, line)  # a scrypt line under the old name is not taken for SHA-256
    assert configured_hash() is None


def test_failed_attempts_back_off_per_key_and_a_success_clears_them():
    now = [1000.0]
    backoff = Backoff(free=3, base_s=1.0, longest_s=60.0, clock=lambda: now[0])
    session, client = "session:a", "client:10.0.0.1"
    for _ in range(3):
        assert backoff.wait_s(session, client) == 0
        backoff.failed(session, client)
    assert backoff.wait_s(session, client) == 1.0  # the fourth guess waits, and each further one twice as long
    backoff.failed(session, client)
    assert backoff.wait_s(session) == 2.0 and backoff.wait_s("session:new", client) == 2.0  # a new session: same
    for _ in range(20):
        backoff.failed(session, client)
    assert backoff.wait_s(client) == 60.0  # capped
    now[0] += 61
    assert backoff.wait_s(session, client) == 0
    backoff.succeeded(session, client)
    backoff.failed(session)
    assert backoff.wait_s(session, client) == 0  # cleared: one failure is free again


def test_study_codes_carry_60_bits_and_are_typed_forgivingly(tmp_path):
    from cardionets.study.design import StudyDesign
    from cardionets.study.store import CODE_ALPHABET, StudyCase, StudyStore, UnknownCodeError, display_code

    store = StudyStore(f"sqlite:///{tmp_path / 'codes.db'}")
    code = store.create_study("codes", StudyDesign(arms=("ecg",)), [StudyCase("c1", "normal", {})])
    assert len(code) == 12 and set(code) <= set(CODE_ALPHABET)  # 32 ** 12 = 2 ** 60 codes
    shown = display_code(code)
    assert shown == f"{code[:4]}-{code[4:8]}-{code[8:]}"
    assert store.join(f"  {shown.lower()} ", "Dr Typist")  # as read aloud: lower case, hyphens, spaces
    with pytest.raises(UnknownCodeError):
        store.join(code[:-1], "Dr Typo")
    store.engine.dispose()


def test_uploaded_archives_are_unpacked_safely(tmp_path):
    def archive(entries: dict[str, bytes]) -> bytes:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zipped:
            for name, data in entries.items():
                zipped.writestr(name, data)
        return buffer.getvalue()

    root, skipped = extract_archive(archive({"a/b.dcm": b"x", "c.xml": b"y"}), tmp_path / "ok")
    assert sorted(p.name for p in root.rglob("*") if p.is_file()) == ["b.dcm", "c.xml"] and skipped == []
    with pytest.raises(ECGError, match="outside"):
        extract_archive(archive({"../escape.dcm": b"x"}), tmp_path / "escape")
    with pytest.raises(ECGError, match="holds 3 files; at most 2"):
        extract_archive(archive({f"{i}.dcm": b"x" for i in range(3)}), tmp_path / "many", max_files=2)
    with pytest.raises(ECGError, match="unpacks to more than"):  # a small zip of zeros that would fill the disk
        extract_archive(archive({"bomb.dcm": bytes(5_000_000)}), tmp_path / "bomb", max_bytes=1_000_000)
    with pytest.raises(ECGError, match="not a readable zip"):
        extract_archive(b"not a zip", tmp_path / "junk")


def zip_of(entries: dict[str, bytes], method: int = zipfile.ZIP_STORED) -> bytearray:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as zipped:
        for name, data in entries.items():
            zipped.writestr(name, data)
    return bytearray(buffer.getvalue())


def test_a_batch_upload_keeps_every_input_and_turns_each_bad_entry_into_its_own_row(tmp_path):
    """Two uploads of one name gave one row; a damaged, encrypted or deflate64 entry, a file beside a folder of
    the same name, an upload named '..' or a 300-character name each failed the whole batch."""
    from cardionets.screening import stage_uploads

    damaged = zip_of({"good.xml": b"<ok/>", "crc.xml": b"<damaged/>"})
    damaged[damaged.rindex(b"<damaged/>")] ^= 0xFF  # one byte of the stored data: its CRC no longer matches
    encrypted = zip_of({"secret.xml": b"<locked/>", "open.xml": b"<open/>"})
    for signature, flag_offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):  # local and central headers
        at = encrypted.index(signature)  # the first entry's: mark it encrypted, as a password-protected zip does
        encrypted[at + flag_offset] |= 0x01
    deflate64 = zip_of({"d64.xml": b"<x/>", "plain.xml": b"<y/>"})
    for signature, method_offset in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):
        at = deflate64.index(signature)
        deflate64[at + method_offset] = 9  # compression method 9: Deflate64, which Python's zipfile cannot read
    clash = zip_of({"a": b"file", "a/b.xml": b"<in a folder/>"})
    long_name = "x" * 296 + ".xml"
    uploads = [("ecg.xml", b"<first/>"), ("ecg.xml", b"<second/>"), ("..", b"<dots/>"), (long_name, b"<long/>"),
               ("damaged.zip", bytes(damaged)), ("locked.zip", bytes(encrypted)), ("d64.zip", bytes(deflate64)),
               ("clash.zip", bytes(clash))]
    inbox = tmp_path / "inbox"
    skipped = dict(stage_uploads(uploads, inbox))
    staged = {str(p.relative_to(inbox)): p.read_bytes() for p in inbox.rglob("*") if p.is_file()}
    assert staged["ecg.xml"] == b"<first/>" and staged["2/ecg.xml"] == b"<second/>"  # both kept
    assert staged["upload-3"] == b"<dots/>" and not (tmp_path / "..").samefile(inbox)
    assert any(len(Path(name).name) <= 150 and name.endswith(".xml") and data == b"<long/>"
               for name, data in staged.items())
    for kept in ("damaged.zip/good.xml", "locked.zip/open.xml", "d64.zip/plain.xml"):
        assert kept in staged
    assert "damaged.zip/crc.xml" not in staged  # a half-written file is not screened
    assert "damaged (bad CRC" in skipped["damaged.zip/crc.xml"]
    assert "encrypted" in skipped["locked.zip/secret.xml"]
    assert "compression" in skipped["d64.zip/d64.xml"]
    assert "same name" in skipped["clash.zip/a/b.xml"] and staged["clash.zip/a"] == b"file"
    assert len(skipped) == 4


def test_the_unpack_limit_holds_for_all_uploads_together(tmp_path):
    from cardionets.screening import stage_uploads

    three = [(f"part{i}.zip", bytes(zip_of({f"{i}.dcm": bytes(400_000)}))) for i in range(3)]
    assert stage_uploads(three[:2], tmp_path / "two", max_bytes=1_000_000) == []
    with pytest.raises(ECGError, match="unpack to more than"):  # the third archive is over what is left
        stage_uploads(three, tmp_path / "three", max_bytes=1_000_000)


def test_promoting_weights_changes_what_the_app_serves(bundle, monkeypatch, tmp_path):
    assert active_bundle() == str(DEFAULT_BUNDLE)
    assert promote(bundle) == str(bundle.resolve()) and active_bundle() == str(bundle.resolve())
    with pytest.raises(BundleError):
        promote(tmp_path)  # not a bundle: the pointer is left as it was
    assert active_bundle() == str(bundle.resolve())
    monkeypatch.setenv("CARDIONETS_WEIGHTS", "org/other")
    assert active_bundle() == "org/other"


def test_the_pdf_report_has_a_page_per_part_and_says_what_it_is(mortara_path):
    from pypdf import PdfReader

    model = CardioNets.from_pretrained(device="cpu")
    record = load(mortara_path)
    result = model.predict(record, height_cm=165, weight_kg=60)
    without = pdf_report(result, record, patient={"name_or_id": "Test 1"}, source="/srv/uploads/waveform_ecg.dcm")
    cmr = model.generate_cmr(record, n_samples=2)
    with_cmr = pdf_report(result, record, cmr)
    for pdf, pages in ((without, 2), (with_cmr, 3)):
        assert len(PdfReader(io.BytesIO(pdf)).pages) == pages
        assert b"not for diagnosis" in pdf  # the document's Subject
    assert b"SYNTHETIC" in with_cmr and b"SYNTHETIC" not in without

    first, tables = (page.extract_text() for page in PdfReader(io.BytesIO(without)).pages)
    # The patient as a clinician writes it, the file by its name only, when it was recorded, the cart's words.
    assert "Patient: Test 1 · 42 years · female · 165 cm · 60 kg · BSA 1.66 m²" in first
    assert "ECG: waveform_ecg.dcm · recorded 2013-01-25 10:59 · dicom" in first and "/srv" not in first
    assert "RITMO SINUSALE" in first and "Hypertrophic cardiomyopathy" in first and "Call threshold" in first
    assert "LV end-diastolic volume" in tables and "QRS duration" in tables
    for text in (first, tables, PdfReader(io.BytesIO(with_cmr)).pages[2].extract_text()):
        assert f"CardioNets {result.model['cardionets_version']} · weights" in text  # every footer
        assert not any(raw in text for raw in ("lvedv_ml", "age_years", "42.0", "any_cm", "bsa_m2"))


def test_no_text_in_the_report_runs_out_of_its_cell_or_off_the_page(mortara_path):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.table import Table

    from cardionets.report import report_pages

    model = CardioNets.from_pretrained(device="cpu")
    record = load(mortara_path)
    result = model.predict(record, height_cm=165, weight_kg=60)
    for page in report_pages(result, record, model.generate_cmr(record, n_samples=2), {"name_or_id": "Test 1"},
                             "waveform_ecg.dcm"):
        canvas = FigureCanvasAgg(page)
        canvas.draw()  # a table places its cells' text when drawn
        renderer = canvas.get_renderer()
        page_box = page.bbox
        for text in page.texts:
            box = text.get_window_extent(renderer)
            assert page_box.x0 <= box.x0 and box.x1 <= page_box.x1, text.get_text()[:60]
        tables = [child for axes in page.axes for child in axes.get_children() if isinstance(child, Table)]
        for table in tables:
            for cell in table.get_celld().values():
                inner, outer = cell.get_text().get_window_extent(renderer), cell.get_window_extent(renderer)
                assert inner.x1 <= outer.x1 + 0.5, cell.get_text().get_text()
