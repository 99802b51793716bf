"""The app's Analyze page, run headless with Streamlit's AppTest."""

from pathlib import Path

from streamlit.testing.v1 import AppTest

PAGE = Path(__file__).resolve().parents[1] / "pages" / "analyze.py"


def _analyze_page() -> AppTest:
    app = AppTest.from_file(str(PAGE), default_timeout=30)
    return app.run()


def test_page_opens_with_the_research_use_statement():
    app = _analyze_page()
    assert not app.exception
    assert any("Research use only, not for diagnosis" in caption.value for caption in app.caption)


def test_sample_ecg_shows_quality_and_measurements_beside_the_carts():
    app = _analyze_page()
    app.selectbox[0].select_index(1).run()
    assert not app.exception
    assert any("Signal quality: OK" in box.value for box in app.success)
    table = app.dataframe[0].value
    qrs = table.set_index("Measurement").loc["QRS duration"]
    assert abs(qrs["CardioNets"] - qrs["ECG cart"]) <= 12
