"""CardioNets web app entry point: `streamlit run app.py`. Pages hold layout only; logic lives in `cardionets`.

The admin page is not in the menu: it is reached at /admin and stays locked unless an admin password hash is
configured (see `cardionets.admin_auth`)."""

from pathlib import Path

import streamlit as st

# The tab's icon is an image the app serves itself: a Material icon there is fetched from fonts.gstatic.com, and
# the app downloads nothing (the browser test checks that no request leaves the server).
ICON = Path(__file__).resolve().parent / "cardionets" / "assets" / "icon.png"
st.set_page_config(page_title="CardioNets", page_icon=str(ICON), layout="wide")

# Material icons ship with Streamlit's own font, so they show on machines without an emoji font. The menu sits
# on top: on a tablet a sidebar would take a third of the width. URL paths are the file names, so a first visitor
# who lands on one before app.py has run (see pages/common.py) finds the page rather than "Page not found".
navigation = st.navigation([
    st.Page("pages/analyze.py", title="Analyze ECG", icon=":material/monitor_heart:", default=True),
    st.Page("pages/screening.py", title="Batch screening", icon=":material/fact_check:", url_path="screening"),
    st.Page("pages/reader_study.py", title="Reader study", icon=":material/groups:", url_path="reader_study"),
    st.Page("pages/model_card.py", title="Model card", icon=":material/description:", url_path="model_card"),
    st.Page("pages/admin.py", title="Admin", icon=":material/build:", url_path="admin", visibility="hidden"),
], position="top")
navigation.run()
