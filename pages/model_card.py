"""Model card: what the active weights were trained on, how well they did on held-out data, their limits, and
the versions of everything that runs them."""

import json
import platform
import re
from pathlib import Path

import streamlit as st
import torch

from cardionets import __version__
from cardionets.bundle import MODEL_CARD_NAME, resolve
from cardionets.clinician_summary import clinician_summary
from cardionets.workspace import REPO_ROOT
from pages.common import models, research_banner

RESULTS = REPO_ROOT / "docs" / "results.md"
RESULTS_JSON = REPO_ROOT / "docs" / "results.json"

st.title("Model card")
research_banner()
model = models()
if RESULTS_JSON.is_file():
    st.markdown(clinician_summary(json.loads(RESULTS_JSON.read_text())))
card = Path(model.source) / MODEL_CARD_NAME
st.header("For engineers")
if card.is_file():
    with st.expander("The weights' model card: training data, figures on simulated subjects, operating points, "
                     "how to retrain", expanded=False):
        # The Hub's YAML front matter is for machines; the page shows the card's prose and tables.
        st.markdown(re.sub(r"\A---\n.*?\n---\n", "", card.read_text(), flags=re.DOTALL))
else:
    st.info("The active weights carry no model card.")

st.header("Full results on held-out data")
if RESULTS.is_file():
    with st.expander("docs/results.md (every table, with 95 % confidence intervals)", expanded=False):
        st.markdown(RESULTS.read_text())

st.header("Versions")
manifest = model.manifest
folder = resolve(str(model.source)).name  # the folder's name only: the server's paths are not the page's business
st.table({"item": ["CardioNets", "weights folder", "weights created", "training recipe", "bundle schema",
                   "device", "torch", "Python"],
          "value": [__version__, folder, str(manifest.metadata.get("created")),
                    str(manifest.metadata.get("recipe")), str(manifest.schema_version), str(model.device),
                    torch.__version__, platform.python_version()]})
