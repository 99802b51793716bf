"""Reader study: blinded, randomised multi-reader studies of physicians against the model. Not built yet; this
page says so rather than pretending."""

import streamlit as st

from pages.common import research_banner

st.title("Reader study")
research_banner()
st.info("Reader studies (blinded, randomised comparisons of physicians with CardioNets) are coming in a later "
        "release. Until then, the Analyze page shows everything a reader would see for one ECG.")
