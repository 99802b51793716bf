"""CardioNets web app entry point: `streamlit run app.py`. Pages hold layout only; logic lives in `cardionets`."""

import streamlit as st

st.set_page_config(page_title="CardioNets", page_icon="🫀", layout="wide")

navigation = st.navigation([st.Page("pages/analyze.py", title="Analyze ECG", icon="🫀", default=True)])
navigation.run()
