"""Every page of the app, run headless with Streamlit's AppTest on the shipped weights: Analyze (a sample, an
upload, a corrupt file, a SYNTHETIC cine and the downloads), Batch screening, Model card, Reader study (its join
form; tests/test_study_pages.py walks a reader through a study), and the hidden Admin page (locked, then launching a tiny training job and watching it finish)."""

import hashlib
import io
import time
import zipfile
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from cardionets.jobs import list_jobs
from cardionets.presentation import DISEASE_LABELS, FLAG_MARKS, WITHHELD

ROOT = Path(__file__).resolve().parents[1]
PAGES = ROOT / "pages"
TIMEOUT = 120


def page(name: str) -> AppTest:
    return AppTest.from_file(str(PAGES / f"{name}.py"), default_timeout=TIMEOUT).run()


def texts(app: AppTest) -> str:
    parts = [e.value for kind in ("markdown", "caption", "success", "warning", "error", "info", "subheader", "title")
             for e in getattr(app, kind)]
    return "\n".join(str(p) for p in parts)


@pytest.fixture(autouse=True)
def private_workspace(tmp_path, monkeypatch):
    """Jobs, uploads and the active-weights pointer go to a temporary workspace, never the repository's."""
    monkeypatch.setenv("CARDIONETS_HOME", str(tmp_path / "workspace"))
    monkeypatch.delenv("CARDIONETS_WEIGHTS", raising=False)
    monkeypatch.delenv("CARDIONETS_ADMIN_PASSWORD_SHA256", raising=False)


def test_the_app_opens_on_the_analyze_page():
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT).run()
    assert not app.exception
    assert app.title[0].value == "Analyze an ECG" and "Research use only" in texts(app)


def test_a_sample_case_renders_the_ecg_phenotypes_and_diseases():
    app = page("analyze")
    assert not app.exception and "Research use only, not for diagnosis" in texts(app)
    app.selectbox[0].select_index(1).run()  # the real Mortara ECG
    assert not app.exception
    assert "Signal quality: OK" in texts(app)
    headers = [h.value for h in app.subheader]
    assert {"Measurements", "CMR phenotypes estimated from the ECG", "Disease probabilities"} <= set(headers)
    phenotypes = next(t.value for t in app.table if "Reference range" in t.value.columns)
    lvef = phenotypes.set_index("Phenotype").loc["LV ejection fraction"]
    assert lvef["Unit"] == "%" and "–" in lvef["Reference range"] and "–" in lvef["95 % interval"]
    assert lvef["Flag"] in FLAG_MARKS.values() and lvef["Flag"] not in ("", WITHHELD)
    diseases = next(t.value for t in app.table if "Call threshold" in t.value.columns)
    # the heads' seven outputs and the findings learnt from real ECGs, all by their clinical names
    assert len(diseases) >= 7 and set(diseases["Condition"]) <= set(DISEASE_LABELS.values())
    assert set(diseases["Call"]) == {"negative"}
    assert len(app.image) == 1 and len(app.get("plotly_chart")) == 1  # the 12-lead printout; the probabilities
    app.toggle[0].set_value(True).run()
    assert not app.exception and len(app.get("plotly_chart")) == 2  # and the zoomable 12-lead
    assert app.number_input[0].value == 42 and app.selectbox[1].value == "female"  # prefilled from the file


def test_an_uploaded_ecg_is_analysed_and_a_corrupt_one_explained(mortara_path):
    app = page("analyze")
    app.file_uploader[0].upload("ecg.dcm", mortara_path.read_bytes()).run()
    assert not app.exception and "Signal quality: OK" in texts(app)
    app = page("analyze")
    app.file_uploader[0].upload("broken.dcm", mortara_path.read_bytes()[:500]).run()
    assert not app.exception
    assert app.error and app.error[0].value.startswith("This file cannot be used:")
    assert "Traceback" not in texts(app)


def test_the_ecg_chosen_last_is_the_one_shown_upload_or_sample(mortara_path):
    app = page("analyze")
    app.file_uploader[0].upload("ecg.dcm", mortara_path.read_bytes()).run()
    assert "Showing: ecg.dcm" in texts(app)
    sample = app.selectbox[0].options[2]
    app.selectbox[0].select(sample).run()  # a sample chosen while the upload is still there
    assert not app.exception and f"Showing: sample ECG {sample}" in texts(app)
    assert not app.file_uploader[0].value  # the upload was let go, not kept behind the sample's results
    app.file_uploader[0].upload("again.dcm", mortara_path.read_bytes()).run()
    assert "Showing: again.dcm" in texts(app) and app.selectbox[0].value == "(none)"


def test_the_synthetic_cmr_is_generated_shown_and_downloadable():
    app = page("analyze")
    app.selectbox[0].select_index(1).run()
    app.button[0].click().run()  # the form's submit: generate
    assert not app.exception
    assert len(app.image) >= 1 and "SYNTHETIC" in texts(app)
    labels = [button.label for button in app.get("download_button")]
    assert {"PDF report", "Result (JSON)"} <= set(labels) and any("SYNTHETIC" in label for label in labels)
    image_table = next(d.value for d in app.dataframe if "Regression head" in d.value.columns)
    assert "LV end-diastolic volume" in set(image_table["Phenotype"])


def test_batch_screening_lists_results_and_bad_files(mortara_path):
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        for index in range(3):
            zipped.writestr(f"ecgs/ecg{index}.dcm", mortara_path.read_bytes())
        zipped.writestr("ecgs/truncated.dcm", mortara_path.read_bytes()[:300])
    app = page("screening")
    app.file_uploader[0].upload("batch.zip", archive.getvalue(), "application/zip").run()
    app.button[0].click().run()
    assert not app.exception
    assert "4 files screened: 3 analysed, 1 could not be used." in texts(app)
    results, bad = app.dataframe[0].value, app.dataframe[1].value
    assert sorted(results["file"]) == [f"batch.zip/ecgs/ecg{i}.dcm" for i in range(3)]
    assert list(bad["file"]) == ["batch.zip/ecgs/truncated.dcm"] and bad["error"].iloc[0]


def test_batch_screening_keeps_two_uploads_of_one_name_and_lists_an_entry_it_could_not_unpack(mortara_path):
    locked = io.BytesIO()
    with zipfile.ZipFile(locked, "w") as zipped:
        zipped.writestr("secret.dcm", mortara_path.read_bytes())
    data = bytearray(locked.getvalue())
    for signature, flag_offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        data[data.index(signature) + flag_offset] |= 0x01  # marked encrypted, as a password-protected zip is
    app = page("screening")
    for name, content in (("ecg.dcm", mortara_path.read_bytes()), ("ecg.dcm", mortara_path.read_bytes()),
                          ("locked.zip", bytes(data))):
        app.file_uploader[0].upload(name, content)
    app.run()
    app.button[0].click().run()
    assert not app.exception
    assert "3 files screened: 2 analysed, 1 could not be used." in texts(app)
    assert sorted(app.dataframe[0].value["file"]) == ["2/ecg.dcm", "ecg.dcm"]
    bad = app.dataframe[1].value
    assert list(bad["file"]) == ["locked.zip/secret.dcm"] and "encrypted" in bad["error"].iloc[0]


@pytest.fixture
def child_dicom(mortara_path) -> bytes:
    """The real Mortara ECG as if recorded from an 11-year-old (only the DICOM's PatientAge changed)."""
    import pydicom

    dataset = pydicom.dcmread(mortara_path)
    dataset.PatientAge = "011Y"
    buffer = io.BytesIO()
    dataset.save_as(buffer)
    return buffer.getvalue()


def test_a_child_s_ecg_shows_no_call_and_no_flag_on_the_page_or_in_the_pdf(child_dicom):
    from pypdf import PdfReader

    from cardionets.report import pdf_report

    app = page("analyze")
    app.file_uploader[0].upload("child.dcm", child_dicom).run()
    assert not app.exception and app.number_input[0].value == 11
    assert "Paediatric ECG (age 11)" in texts(app) and any("Calls withheld" in e.value for e in app.error)
    diseases = next(t.value for t in app.table if "Call threshold" in t.value.columns)
    assert set(diseases["Call"]) == {"withheld"}
    phenotypes = next(t.value for t in app.table if "Reference range" in t.value.columns)
    assert not {"normal", "▲ high", "▼ low"} & set(phenotypes["Flag"]) and "withheld" in set(phenotypes["Flag"])
    assert not any("subtype" in str(d.value.columns) for d in app.dataframe)  # no cardiomyopathy call, no subtypes

    from cardionets import CardioNets
    from cardionets.ecg import load

    record = load(child_dicom)
    result = CardioNets.from_pretrained().predict(record)
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf_report(result, record))).pages)
    assert "Paediatric ECG" in text and "withheld" in text and "POSITIVE" not in text and "normal" not in text


def test_batch_screening_withholds_a_child_s_calls_in_the_table_and_the_csv(mortara_path, child_dicom):
    app = page("screening")
    app.file_uploader[0].upload("child.dcm", child_dicom).run()
    app.button[0].click().run()
    assert not app.exception
    row = app.dataframe[0].value.iloc[0]
    assert row["calls"] == "withheld" and row["unusual_ecg"] and row["age_years"] == 11 and row["sex"] == "F"
    assert "Paediatric ECG" in row["warnings"]
    downloaded = app.session_state["screening"]  # the table the CSV button serves, as written by the screen
    assert {"age_years", "sex", "calls", "warnings"} <= set(downloaded.columns)
    assert downloaded.loc[0, "calls"] == "withheld" and "Paediatric ECG" in downloaded.loc[0, "warnings"]


def test_a_zip_that_escapes_its_folder_is_refused():
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("../../evil.dcm", b"x")
    app = page("screening")
    app.file_uploader[0].upload("evil.zip", archive.getvalue(), "application/zip").run()
    app.button[0].click().run()
    assert not app.exception and "points outside the archive" in app.error[0].value


def test_the_model_card_and_reader_study_pages_render():
    card = page("model_card")
    assert not card.exception
    assert "Intended use" in texts(card) and "not for diagnosis" in texts(card)
    # Clinicians first, in words: what it learnt from, how it did on real ECGs, when not to use it; no codes and
    # no server paths there.
    plain = next(m.value for m in card.markdown if m.value.startswith("## For clinicians"))
    assert "simulated people only" in plain and "When not to use it" in plain and "Atrial fibrillation" in plain
    assert "any_cm" not in plain and "hcm" not in plain and "python -m" not in plain
    assert str(ROOT) not in " ".join(str(v) for t in card.table for v in t.value.to_numpy().ravel())
    reader = page("reader_study")
    assert not reader.exception and reader.text_input[0].label == "Study code"  # the join form


def test_admin_is_disabled_without_a_password_and_refuses_a_wrong_one(monkeypatch):
    app = page("admin")
    assert not app.exception and "disabled" in app.error[0].value
    monkeypatch.setenv("CARDIONETS_ADMIN_PASSWORD_SHA256", hashlib.sha256(b"right").hexdigest())
    app = page("admin")
    app.text_input[0].input("wrong")
    app.button[0].click().run()
    assert "Wrong password." in texts(app) and not app.tabs


def test_admin_launches_a_tiny_training_job_whose_log_appears_and_it_finishes(monkeypatch, tiny_run, tmp_path):
    _, data = tiny_run
    monkeypatch.setenv("CARDIONETS_ADMIN_PASSWORD_SHA256", hashlib.sha256(b"right").hexdigest())
    app = page("admin")
    app.text_input[0].input("right")
    app.button[0].click().run()
    assert not app.exception and app.tabs
    app.selectbox[0].select(ROOT / "training" / "configs" / "tiny.yaml")
    app.selectbox[1].select("pretrain-ecg")
    app.text_input[0].input(str(tmp_path / "run"))  # the run folder
    app.text_input[1].input(str(data))  # the tiny data the session already prepared
    button(app, "Launch").click().run()
    assert not app.exception and "Started job" in texts(app)
    (job,) = list_jobs()
    deadline = time.time() + 180
    while job.status == "running" and time.time() < deadline:
        time.sleep(1)
    assert job.status == "finished", job.tail(20)
    assert "pretrain-ecg" in job.tail(5) and any(r.get("stage") == "pretrain-ecg" for r in job.metrics())
    app.run()
    assert "finished" in " ".join(e.label for e in app.expander)


def button(app, label: str):
    return next(b for b in app.button if b.label == label)


def test_admin_says_which_stage_to_run_first_and_logs_out(monkeypatch, tmp_path):
    """A fresh checkout has no prepared data and no earlier stages: launching one names what is missing and which
    stage makes it, instead of a job that dies with FileNotFoundError."""
    monkeypatch.setenv("CARDIONETS_ADMIN_PASSWORD_SHA256", hashlib.sha256(b"right").hexdigest())
    app = page("admin")
    app.text_input[0].input("right")
    app.button[0].click().run()
    app.selectbox[0].select(ROOT / "training" / "configs" / "tiny.yaml")
    app.selectbox[1].select("align")
    app.text_input[0].input(str(tmp_path / "run"))
    app.text_input[1].input(str(tmp_path / "no-data"))
    button(app, "Launch").click().run()
    message = " ".join(e.value for e in app.error)
    assert not app.exception and "cannot start" in message and "run the 'data' stage first" in message
    assert "run the 'pretrain-ecg' stage first" in message and "Started job" not in texts(app)
    assert not list_jobs()
    button(app, "Log out").click().run()
    assert not app.tabs and app.text_input[0].label == "Admin password"


def test_the_cart_s_interpretation_and_a_call_that_contradicts_the_tracing_are_shown():
    app = page("analyze")
    app.selectbox[0].select_index(1).run()  # the real Mortara ECG, whose cart wrote "RITMO SINUSALE"
    assert any("cart's own interpretation" in c.value and "RITMO SINUSALE" in c.value for c in app.caption)

    record = ROOT / "tests" / "data" / "real-ecg" / "ptbxl" / "records100" / "00000" / "00001_lr"
    app = page("analyze")  # a real healthy woman in sinus rhythm (PTB-XL), uploaded as WFDB's pair of files
    for suffix in (".hea", ".dat"):
        app.file_uploader[0].upload(f"00001_lr{suffix}", record.with_suffix(suffix).read_bytes())
    app.run()
    assert not app.exception
    diseases = next(t.value for t in app.table if "Call threshold" in t.value.columns).set_index("Condition")
    called = diseases.loc["Atrial fibrillation", "Call"] == "POSITIVE"
    shown = any("disagrees with the tracing" in w.value for w in app.warning)
    assert shown == called  # the shipped weights call AF here: the page must say the tracing disagrees


def test_the_thickest_wall_segment_is_flagged_against_the_hcm_criterion_and_lv_mass_indexed():
    app = page("analyze")
    app.selectbox[0].select("Virtual subject: hypertrophic cardiomyopathy (MUSE)").run()  # with height and weight
    assert not app.exception
    phenotypes = next(t.value for t in app.table if "Reference range" in t.value.columns).set_index("Phenotype")
    thickest = phenotypes.loc["LV maximum wall thickness (thickest segment)"]
    assert thickest["Reference range"] == "0 – 15" and thickest["Flag"] == "▲ high"
    assert phenotypes.loc["LV mass index (per m² BSA)", "Unit"] == "g/m²"
    assert any("HCM criterion of the ESC guidelines" in c.value for c in app.caption)


def test_admin_guesses_back_off_and_an_old_sha256_hash_asks_to_be_replaced(monkeypatch):
    import streamlit as st

    from cardionets.admin_auth import ADMIN_HASH_SETTING, hash_password

    # Every AppTest session has the same id, so the server-wide back-off carries over between tests: start
    # from none and leave none (per-session independence is tested on `Backoff` itself).
    st.cache_resource.clear()
    monkeypatch.setenv(ADMIN_HASH_SETTING, hash_password("right"))
    try:
        app = page("admin")
        for _ in range(3):
            app.text_input[0].input("wrong")
            app.button[0].click().run()
            assert "Wrong password." in texts(app)
        app.text_input[0].input("right")  # the right one, but after three wrong ones in a row: not even looked at
        app.button[0].click().run()
        assert "Too many wrong passwords. Try again in" in texts(app) and not app.tabs
    finally:
        st.cache_resource.clear()
    app = page("admin")
    app.text_input[0].input("right")
    app.button[0].click().run()
    assert app.tabs and not any("unsalted" in w.value for w in app.warning)

    monkeypatch.delenv(ADMIN_HASH_SETTING)
    monkeypatch.setenv("CARDIONETS_ADMIN_PASSWORD_SHA256", hashlib.sha256(b"right").hexdigest())
    old = page("admin")
    old.text_input[0].input("right")
    old.button[0].click().run()
    assert old.tabs and any("unsalted SHA-256" in w.value for w in old.warning)
