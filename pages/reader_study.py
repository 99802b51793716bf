"""Reader study: join with the organiser's code, then read one case at a time with only the material of its arm,
and answer. Every answer is stored the moment it is given; the page's address (with the reader's private
token) brings a reader back to the next unread case after closing the browser."""

import time

import numpy as np
import pandas as pd
import streamlit as st

from cardionets.cmr.export import SYNTHETIC, labelled_frames, side_by_side_gif
from cardionets.ecg import ECGError
from cardionets.ecg.isolated import shared_reader
from cardionets.presentation import phenotype_rows
from cardionets.study.cases import material_key, material_path
from cardionets.study.design import ARMS, CONFIDENCE, DIAGNOSES
from cardionets.study.store import StudyClosedError, StudyError, UnknownCodeError
from pages.common import (
    attempt_keys,
    backoff,
    bundle_key,
    default_cmr,
    ecg_printout,
    predict,
    research_banner,
    study_store,
)

TOKEN = "reader"  # the query parameter that carries the reader's token

st.title("Reader study")
research_banner()
store = study_store()
token = st.query_params.get(TOKEN) or st.session_state.get(TOKEN)

if not token:
    st.write("Join the study your organiser invited you to. You will read one case at a time; answers are saved "
             "as you give them, and this page's address brings you back to where you stopped.")
    with st.form("join"):
        code = st.text_input("Study code")
        name = st.text_input("Your name")
        experience = st.number_input("Years of experience", min_value=0, max_value=60, value=5)
        specialty = st.selectbox("Specialty", ["cardiology", "radiology", "internal medicine", "general practice",
                                               "other"])
        if st.form_submit_button("Join", type="primary"):
            # Per browser session only: readers behind one hospital proxy share an address, and a mistyped code
            # from one must not hold up the others. 60-bit codes leave nothing to guess in any case.
            keys = attempt_keys(with_client=False)
            if (wait := backoff("join").wait_s(*keys)) > 0:
                st.error(f"Too many unknown codes. Try again in {wait:.0f} s.")
                st.stop()
            try:
                token = store.join(code, name or "anonymous", float(experience), specialty)
            except UnknownCodeError as error:
                backoff("join").failed(*keys)
                st.error(str(error))
                st.stop()
            except StudyError as error:
                st.error(str(error))
                st.stop()
            st.session_state[TOKEN] = token
            st.query_params[TOKEN] = token
            st.rerun()
    st.stop()

try:
    item = store.next_item(token)
    design = store.design_of(token)
except StudyClosedError as error:  # the link stays: the organiser may open the study again
    st.info(str(error))
    st.stop()
except StudyError as error:
    st.query_params.pop(TOKEN, None)
    st.session_state.pop(TOKEN, None)
    st.error(str(error))
    st.stop()

# Going back, where the design allows it: the reader picks an answered case, sees it again with their answer,
# and may change it; otherwise the page always shows the next unread case.
review_key = f"review-{token}"
earlier = None
if design.allow_going_back and st.session_state.get(review_key) is not None:
    earlier = store.answered(token, st.session_state[review_key])
    if earlier is None:
        st.session_state.pop(review_key)
if earlier is not None:
    item, given = earlier
    st.info(f"You are looking again at case {item.position + 1}; your answer is shown. Change it, or go back to "
            "where you were.")
    if st.button("Back to where I was"):
        st.session_state.pop(review_key)
        st.rerun()
elif item is None:
    st.success("You have read every case of this study. Thank you.")
    st.stop()
else:
    given = None
    if design.allow_going_back and item.position > 0 and st.button("← Previous case"):
        st.session_state[review_key] = item.position - 1
        st.rerun()

st.progress(item.position / item.total, text=f"Case {item.position + 1} of {item.total} · {ARMS[item.arm]}")
st.caption("Keep this page's address to come back later: it is your personal link to this study.")
started = st.session_state.setdefault(f"started-{token}-{item.position}", time.time())
over_time = False
if design.time_limit_s:
    left = design.time_limit_s - (time.time() - started)
    over_time = left <= 0
    st.caption(f"Time limit {design.time_limit_s} s per case; about {max(0, left):.0f} s left.")
if over_time:  # the material is withdrawn once the time is up; the answer is still taken, with its time
    st.warning("Time is up for this case: the material is hidden. Give your answer now.")

case = item.case
if not over_time:
    try:
        record = shared_reader().load_path(material_path(case.material["ecg"]))
        key = material_key(item.study, case)  # cached by study and content: a rerun does not recompute the case
    except (ECGError, KeyError, OSError) as error:
        st.error(f"This case's ECG cannot be shown ({error}); tell the organiser.")
        st.stop()
    st.image(ecg_printout(key, record), width="stretch")

    if item.arm == "ecg_cmr":
        import nibabel as nib

        images = [nib.load(material_path(case.material[role])) for role in ("cine_sax", "cine_4ch")
                  if role in case.material]
        if images:  # stored (x, y, 1, t) with the frame interval in pixdim[4]
            views = np.stack([np.asarray(image.dataobj, dtype=np.float32)[:, :, 0].transpose(2, 1, 0)
                              for image in images])
            st.image(side_by_side_gif(views, fps=1.0 / float(images[0].header.get_zooms()[3]), label="CMR"),
                     width=640, caption="CMR of this subject: short axis (left) and four-chamber (right)")
    elif item.arm == "ecg_cardionets":
        result = predict(key, record, None, None, None, None, bundle_key())
        cmr = default_cmr(key, record, bundle_key())
        st.image(cmr.gif(), width=640, caption=f"{SYNTHETIC} cine generated by CardioNets from this ECG")
        rows = phenotype_rows(result)
        st.table(pd.DataFrame(rows[1:], columns=rows[0]).style.hide(axis="index"))
        with st.expander("Step through the frames"):
            frame = st.slider("Frame", 1, cmr.cines.shape[2], 1) - 1
            st.image(labelled_frames(np.concatenate(list(cmr.cines[0][:, frame:frame + 1]), axis=2))[0], width=640)

with st.form(f"answer-{item.position}-{given is not None}"):
    diagnosis = st.radio("Primary diagnosis", list(DIAGNOSES), format_func=DIAGNOSES.get,
                         index=None if given is None else list(DIAGNOSES).index(given["diagnosis"]))
    confidence = probability = None
    if design.rating == "probability":
        probability = st.slider("Probability that this case is abnormal (%)", 0, 100,
                                50 if given is None or given["probability"] is None else given["probability"],
                                help="0 = certainly normal, 100 = certainly one of the diseases")
    else:
        confidence = st.select_slider("Confidence", options=list(CONFIDENCE),
                                      value=3 if given is None or given["confidence"] is None
                                      else given["confidence"], help="1 = a guess, 5 = certain")
    label = "Change my answer" if given is not None else "Submit and go to the next case"
    if st.form_submit_button(label, type="primary"):
        if diagnosis is None:
            st.error("Choose a diagnosis first.")
        else:
            seconds = time.time() - started
            try:
                if given is not None:
                    store.revise_answer(token, case.key, item.arm, diagnosis, confidence, seconds, probability)
                    st.session_state.pop(review_key, None)
                else:
                    store.record_answer(token, case.key, item.arm, diagnosis, confidence, seconds, probability)
            except StudyError as error:  # closed meanwhile, or an answer the design does not take
                st.error(str(error))
                st.stop()
            st.session_state.pop(f"started-{token}-{item.position}", None)
            st.rerun()
if not design.allow_going_back:
    st.caption("Answers are final once submitted.")
