"""One reader walked through a three-case study in the app (AppTest): join with the code, answer each case,
finish; the answers are in the database, and the organiser's results, behind the admin password, show them."""

import hashlib
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from cardionets.study.cases import shipped_cases
from cardionets.study.design import StudyDesign
from cardionets.study.store import StudyStore, display_code

PAGES = Path(__file__).resolve().parents[1] / "pages"


@pytest.fixture
def study(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    monkeypatch.setenv("CARDIONETS_STUDY_DB", url)
    monkeypatch.setenv("CARDIONETS_HOME", str(tmp_path / "workspace"))
    store = StudyStore(url)
    three = [case for case in shipped_cases() if case.key in ("healthy-a", "hcm", "dcm")]
    return store, store.create_study("three cases", StudyDesign(arms=("ecg_cardionets",), seed=1), three)


def test_a_reader_joins_answers_three_cases_and_the_organiser_sees_them(study, monkeypatch):
    store, code = study
    app = AppTest.from_file(str(PAGES / "reader_study.py"), default_timeout=120).run()
    app.text_input[0].input(code)
    app.text_input[1].input("Dr Reader")
    app.button[0].click().run()
    assert not app.exception
    token = app.session_state["reader"]
    for step in range(3):
        assert f"Case {step + 1} of 3" in app.get("progress")[0].proto.text
        assert any("SYNTHETIC" in (image.proto.imgs[0].caption or "") for image in app.image)
        assert "truth" not in str(app.markdown) and "hcm" != app.title[0].value  # no label is shown
        app.radio[0].set_value("hcm")
        app.select_slider[0].set_value(4)
        app.button[-1].click().run()
        assert not app.exception
    assert "read every case" in app.success[0].value
    answers = store.answers(code)
    assert len(answers) == 3 and {a["diagnosis"] for a in answers} == {"hcm"} and {a["confidence"] for a in answers} == {4}
    assert all(a["reader"] == "Dr Reader" and a["seconds"] >= 0 for a in answers)
    assert store.next_item(token) is None

    admin = AppTest.from_file(str(PAGES / "admin.py"), default_timeout=120).run()
    assert "disabled" in admin.error[0].value  # no password configured: no results for anyone
    monkeypatch.setenv("CARDIONETS_ADMIN_PASSWORD_SHA256", hashlib.sha256(b"organiser").hexdigest())
    admin = AppTest.from_file(str(PAGES / "admin.py"), default_timeout=120).run()
    admin.text_input[0].input("organiser")
    admin.button[0].click().run()
    assert any(f"code {display_code(code)}" in e.label and "3 answers" in e.label for e in admin.expander)
    table = next(d.value for d in admin.dataframe if "accuracy" in d.value.columns)
    assert table.loc[0, "reader"] == "Dr Reader" and table.loc[0, "accuracy"] == pytest.approx(1 / 3)
    assert any("CardioNets on these 3 cases" in caption.value for caption in admin.caption)
    assert admin.get("plotly_chart")  # the model's ROC with the reader's operating point


def test_where_the_design_allows_it_a_reader_goes_back_and_changes_an_answer(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    monkeypatch.setenv("CARDIONETS_STUDY_DB", url)
    store = StudyStore(url)
    two = [case for case in shipped_cases() if case.key in ("hcm", "dcm")]
    code = store.create_study("lenient", StudyDesign(arms=("ecg",), allow_going_back=True), two)
    app = AppTest.from_file(str(PAGES / "reader_study.py"), default_timeout=120).run()
    app.text_input[0].input(code)
    app.text_input[1].input("Dr Back")
    app.button[0].click().run()
    app.radio[0].set_value("normal")
    app.button[-1].click().run()  # case 1 answered: now on case 2
    assert "Case 2 of 2" in app.get("progress")[0].proto.text
    next(b for b in app.button if b.label == "← Previous case").click().run()
    assert "Case 1 of 2" in app.get("progress")[0].proto.text and app.radio[0].value == "normal"
    app.radio[0].set_value("dcm")
    next(b for b in app.button if b.label == "Change my answer").click().run()
    assert not app.exception and "Case 2 of 2" in app.get("progress")[0].proto.text
    (answer,) = store.answers(code)
    assert answer["diagnosis"] == "dcm"


def test_when_a_case_s_time_is_up_its_material_is_withdrawn_and_the_answer_still_taken(tmp_path, monkeypatch):
    import time

    url = f"sqlite:///{tmp_path / 'studies.db'}"
    monkeypatch.setenv("CARDIONETS_STUDY_DB", url)
    store = StudyStore(url)
    one = [case for case in shipped_cases() if case.key == "hcm"]
    code = store.create_study("timed", StudyDesign(arms=("ecg",), time_limit_s=1), one)
    app = AppTest.from_file(str(PAGES / "reader_study.py"), default_timeout=120).run()
    app.text_input[0].input(code)
    app.text_input[1].input("Dr Slow")
    app.button[0].click().run()
    assert app.image and not app.warning  # the ECG, while the clock runs
    time.sleep(1.2)
    app.run()
    assert "Time is up" in app.warning[0].value and not app.image
    app.radio[0].set_value("hcm")
    app.button[-1].click().run()
    (answer,) = store.answers(code)
    assert answer["diagnosis"] == "hcm" and answer["seconds"] > 1


def test_two_studies_with_a_case_of_the_same_key_each_show_their_own_material(tmp_path, monkeypatch):
    """Case keys are unique within a study only: a reader of one study must never be shown what the app cached
    for another study's case of the same key (a healthy case shown with another study's HCM result)."""
    from dataclasses import replace

    from cardionets import CardioNets
    from cardionets.presentation import phenotype_label

    url = f"sqlite:///{tmp_path / 'studies.db'}"
    monkeypatch.setenv("CARDIONETS_STUDY_DB", url)
    store = StudyStore(url)
    by_key = {case.key: case for case in shipped_cases()}
    design = StudyDesign(arms=("ecg_cardionets",), seed=1)
    codes = {source: store.create_study(f"study of {source}", design, [replace(by_key[source], key="case-1")])
             for source in ("hcm", "healthy-a")}

    shown = {}
    for source, code in codes.items():
        app = AppTest.from_file(str(PAGES / "reader_study.py"), default_timeout=120).run()
        app.text_input[0].input(code)
        app.text_input[1].input(f"Dr {source}")
        app.button[0].click().run()
        assert not app.exception
        shown[source] = app.table[0].value.set_index("Phenotype")["Value"]

    model = CardioNets.from_pretrained()
    for source in codes:
        own = model.predict(by_key[source].material["ecg"] if Path(by_key[source].material["ecg"]).is_absolute()
                            else Path(__file__).resolve().parents[1] / by_key[source].material["ecg"])
        label = phenotype_label("lvedv_ml")
        assert float(shown[source][label]) == pytest.approx(own.phenotypes["lvedv_ml"].value, abs=0.06), source
    assert not shown["hcm"].equals(shown["healthy-a"])


def test_a_probability_study_asks_for_a_probability_and_the_organiser_sees_all_three_analyses_and_sizing(
        tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    monkeypatch.setenv("CARDIONETS_STUDY_DB", url)
    monkeypatch.setenv("CARDIONETS_HOME", str(tmp_path / "workspace"))
    store = StudyStore(url)
    cases = [case for case in shipped_cases() if case.key in ("healthy-a", "healthy-b", "hcm", "dcm")]
    code = store.create_study("probabilities", StudyDesign(arms=("ecg", "ecg_cmr"), rating="probability"), cases)
    app = AppTest.from_file(str(PAGES / "reader_study.py"), default_timeout=120).run()
    app.text_input[0].input(code)
    app.text_input[1].input("Dr Web")
    app.button[0].click().run()
    assert not app.select_slider and app.slider[0].label.startswith("Probability that this case is abnormal")
    app.radio[0].set_value("hcm")
    app.slider[0].set_value(80)
    app.button[-1].click().run()
    assert not app.exception
    (answer,) = store.answers(code)
    assert (answer["probability"], answer["confidence"]) == (80, None)
    # Two more readers, and the first one's remaining reads, go through the store: a fully crossed pilot.
    for reader, shift in (("Dr A", 10), ("Dr B", 25)):
        token = store.join(code, reader)
        while (item := store.next_item(token)) is not None:
            sick = item.case.truth != "normal"
            store.record_answer(token, item.case.key, item.arm, item.case.truth, None, 5.0,
                                probability=min(100, 60 * sick + shift + 10 * (item.arm == "ecg_cmr")))
    token = app.session_state["reader"]
    while (item := store.next_item(token)) is not None:
        store.record_answer(token, item.case.key, item.arm, "normal", None, 4.0, probability=30)

    monkeypatch.setenv("CARDIONETS_ADMIN_PASSWORD_SHA256", hashlib.sha256(b"organiser").hexdigest())
    admin = AppTest.from_file(str(PAGES / "admin.py"), default_timeout=120).run()
    admin.text_input[0].input("organiser")
    admin.button[0].click().run()
    assert not admin.exception
    mrmc = next(d.value for d in admin.dataframe if "analysis" in d.value.columns)
    assert list(mrmc["analysis"]) == ["random readers, random cases", "fixed readers, random cases",
                                      "random readers, fixed cases"]
    sizing = next(d.value for d in admin.dataframe if "readers" in d.value.columns)
    assert list(sizing["readers"]) == list(range(3, 16))
    source = next(s for s in admin.selectbox if s.label == "Variance components from")
    assert any(option.startswith("Pilot: probabilities") for option in source.options)
    source.select(next(o for o in source.options if o.startswith("Pilot"))).run()
    assert not admin.exception


def test_unknown_study_codes_back_off_and_a_code_is_accepted_as_read_aloud(study):
    import streamlit as st

    from cardionets.study.store import display_code

    store, code = study
    st.cache_resource.clear()  # AppTest sessions share one id: start and end with no failures on record
    try:
        app = AppTest.from_file(str(PAGES / "reader_study.py"), default_timeout=120).run()
        for _ in range(4):
            app.text_input[0].input("ABCD-EFGH-JKMN")
            app.text_input[1].input("Dr Guess")
            app.button[0].click().run()
        assert "Too many unknown codes. Try again in" in app.error[0].value
    finally:
        st.cache_resource.clear()
    app = AppTest.from_file(str(PAGES / "reader_study.py"), default_timeout=120).run()
    app.text_input[0].input(display_code(code).lower())
    app.text_input[1].input("Dr Reader")
    app.button[0].click().run()
    assert not app.exception and app.session_state["reader"]


def test_the_organiser_closes_a_study_and_its_reader_is_told_so_without_losing_the_link(study, monkeypatch):
    store, code = study
    token = store.join(code, "Dr Reader")
    monkeypatch.setenv("CARDIONETS_ADMIN_PASSWORD_SHA256", hashlib.sha256(b"organiser").hexdigest())
    admin = AppTest.from_file(str(PAGES / "admin.py"), default_timeout=120).run()
    admin.text_input[0].input("organiser")
    admin.button[0].click().run()
    next(b for b in admin.button if b.label.startswith("Close the study")).click().run()
    assert not admin.exception and store.studies()[0]["closed"] is not None
    assert any("CLOSED" in e.label for e in admin.expander)

    reader = AppTest.from_file(str(PAGES / "reader_study.py"), default_timeout=120)
    reader.session_state["reader"] = token
    reader.run()
    assert not reader.exception and "study is closed" in reader.info[0].value
    assert reader.session_state["reader"] == token  # kept: the organiser may open the study again
