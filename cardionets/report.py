"""The PDF report a clinician downloads: one ECG's result on paper, with its provenance and intended use.

    pdf = pdf_report(result, record, cmr=generated, patient={"name_or_id": "..."}, source="ecg.xml")

Pages: (1) the patient, the recording (file, date, format and every conversion), quality, warnings, the
12-lead printout and the disease calls with their thresholds; (2) the measurements beside the cart's own and the
phenotypes with their intervals, reference ranges and flags; (3, when a cine was generated) key frames of both
SYNTHETIC views, the image-derived phenotypes beside the regression head's, and the sampler settings. Every page
carries the research-use statement and, in its footer, the CardioNets version and weights. Drawn with matplotlib
(already a dependency for the ECG printout), so the report needs no PDF library of its own; tables size their
columns to their text, and long titles wrap, so nothing is clipped (tests/test_app_logic.py reads the text back).
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import PurePath

import numpy as np
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure
from PIL import Image

from .cmr.export import SYNTHETIC, labelled_frames
from .ecg import ECG, preprocess
from .ecg.plot import save_ecg_png
from .inference import WITHHELD_NOTE, GeneratedCMR
from .prediction import RESEARCH_USE, Prediction
from .presentation import (
    disease_rows,
    measurement_rows,
    phenotype_label,
    phenotype_rows,
    recording_description,
)

A4_INCHES = (8.27, 11.69)
MARGIN = 0.06  # of the page, each side
ROW_HEIGHT = 0.0155  # of the page, one table row at 7.5 pt
TEXT_WIDTH = 118  # characters of 8.5 pt text across the page between the margins
SEXES = {"F": "female", "M": "male"}


def pdf_report(result: Prediction, record: ECG, cmr: GeneratedCMR | None = None,
               patient: dict | None = None, source: str | None = None) -> bytes:
    """The report as PDF bytes. ``patient`` holds fields the user typed for the report (a name or ID), shown
    verbatim; ``source`` is the uploaded file's name (only its last part is printed)."""
    buffer = io.BytesIO()
    metadata = {"Title": "CardioNets report", "Subject": RESEARCH_USE, "Creator": "CardioNets",
                "Keywords": "research use only; not for diagnosis" + ("; SYNTHETIC CMR" if cmr else "")}
    with PdfPages(buffer, metadata=metadata) as pdf:
        for page in report_pages(result, record, cmr, patient, source):
            pdf.savefig(page)
    return buffer.getvalue()


def report_pages(result: Prediction, record: ECG, cmr: GeneratedCMR | None = None, patient: dict | None = None,
                 source: str | None = None) -> list[Figure]:
    """The report's pages as matplotlib figures (what `pdf_report` prints; tests check their layout)."""
    pages = [_first_page(result, record, patient or {}, source), _tables_page(result)]
    return pages + ([_cmr_page(cmr, result)] if cmr is not None else [])


def _page(title: str, result: Prediction, footer: str = "") -> Figure:
    figure = Figure(figsize=A4_INCHES)
    figure.text(MARGIN, 0.965, title, fontsize=15, weight="bold")
    figure.text(MARGIN, 0.945, RESEARCH_USE, fontsize=8.5, color="#b00020")
    model = (f"CardioNets {result.model.get('cardionets_version')} · weights {result.model.get('recipe')} of "
             f"{result.model.get('bundle_created')}")
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    figure.text(MARGIN, 0.02, f"{model} · printed {stamp} {footer}".strip(), fontsize=7, color="#555555")
    return figure


def patient_line(result: Prediction, patient: dict) -> str:
    """The patient as a clinician writes it: "Patient: J. Smith · 42 years · female · 165 cm · 60 kg · BSA
    1.66 m²", from the fields the analysis used; "Patient: not given" when there are none."""
    given = result.patient
    parts = [str(patient["name_or_id"])] if patient.get("name_or_id") else []
    for key, text in (("age_years", "{:.0f} years"), ("sex", "{}"), ("height_cm", "{:.0f} cm"),
                      ("weight_kg", "{:.0f} kg"), ("bsa_m2", "BSA {:.2f} m²")):
        value = given.get(key)
        if value is not None:
            parts.append(text.format(SEXES.get(value, value) if key == "sex" else value))
    return "Patient: " + (" · ".join(parts) if parts else "not given")


def _first_page(result: Prediction, record: ECG, patient: dict, source: str | None) -> Figure:
    figure = _page("CardioNets: ECG-derived cardiac report", result)
    recording = recording_description(record)
    file_name = PurePath(source).name if source else None
    lines = [patient_line(result, patient), f"ECG: {file_name} · {recording}" if file_name else f"ECG: {recording}"]
    if result.interpretation:
        lines.append(f"The cart's own interpretation: {' / '.join(result.interpretation)}")
    lines.append(f"Signal quality: {result.qc['verdict'].upper()}")
    lines += [f"  - {finding['message']}" for finding in result.qc["findings"]]
    lines += [f"Warning: {warning}" for warning in result.ood.warnings]
    y = _lines(figure, lines[:14], 0.92)
    png = io.BytesIO()
    save_ecg_png(preprocess(record), png, dpi=110)
    png.seek(0)  # the printout comes back as an image: one renderer for the app and the report
    image = np.asarray(Image.open(png))
    height = (1 - 2 * MARGIN) * image.shape[0] / image.shape[1] * A4_INCHES[0] / A4_INCHES[1]
    bottom = max(0.30, y - 0.01 - height)
    axes = figure.add_axes((MARGIN, bottom, 1 - 2 * MARGIN, y - 0.01 - bottom))
    axes.imshow(image)
    axes.set_axis_off()
    if result.rejected:
        figure.text(MARGIN, bottom - 0.02, "The quality check rejected this ECG, so the models gave no output.",
                    fontsize=10, va="top")
        return figure
    y = _lines(figure, result.disagreements, bottom - 0.015, color="#b00020")  # beside the calls they question
    if result.ood.withheld:  # the warning travels with the calls it qualifies
        reasons = " ".join(warning for warning in result.ood.warnings if warning != WITHHELD_NOTE)
        y = _lines(figure, [f"Calls and flags withheld. {reasons}"], y, color="#b00020")
    _table(figure, "Disease probabilities (call threshold: best sensitivity + specificity on validation data)",
           disease_rows(result), y - 0.005)
    return figure


def _tables_page(result: Prediction) -> Figure:
    figure = _page("Measurements and CMR phenotypes", result)
    if result.rejected:
        figure.text(MARGIN, 0.9, "The quality check rejected this ECG, so the models gave no output.", fontsize=10)
        return figure
    y = _table(figure, "ECG measurements (CardioNets and the cart's own)", measurement_rows(result), 0.92)
    _table(figure, "CMR phenotypes estimated from the ECG, with 95 % prediction intervals. Reference ranges: "
           "healthy adults of the patient's sex (LV: UK Biobank, Petersen 2017; RV: Hudsmith 2005); maximum wall "
           "thickness: the ESC HCM criterion, 15 mm. A flag only where the whole interval lies outside the range.",
           phenotype_rows(result), y)
    return figure


def _cmr_page(cmr: GeneratedCMR, result: Prediction) -> Figure:
    figure = _page(f"{SYNTHETIC} cine CMR generated from the ECG", result, footer=f"· {SYNTHETIC} images")
    figure.text(MARGIN, 0.925, "These images were generated by a model from the ECG alone. They are not a scan of "
                "this patient.", fontsize=9, color="#b00020", va="top")
    frames = cmr.cines[0]  # (views, T, H, W) of the first sample
    picks = {"end-diastole (frame 1)": 0, f"frame {frames.shape[1] // 2 + 1}": frames.shape[1] // 2}
    width = (1 - 2 * MARGIN - 0.02) / 2
    for row, (caption, frame) in enumerate(picks.items()):
        for column, view in enumerate(cmr.views):
            picture = np.asarray(labelled_frames(frames[column, frame:frame + 1])[0])
            axes = figure.add_axes((MARGIN + column * (width + 0.02), 0.62 - row * 0.3, width, 0.27))
            axes.imshow(picture, cmap="gray", vmin=0, vmax=255)
            axes.set_title(f"{view.upper()}, {caption}", fontsize=8)
            axes.set_axis_off()
    rows = [["Phenotype", "From the images (mean ± SD)", "Regression head", "Disagree?"]]
    for name in cmr.image_phenotypes.mean:
        head = cmr.predicted_phenotypes.get(name)
        flag = cmr.disagreements.get(name, False)
        rows.append([phenotype_label(name), cmr.image_phenotypes.cell(name), "-" if head is None else f"{head:.1f}",
                     {True: "YES", None: "needs 2+ samples"}.get(flag, "")])
    y = _table(figure, f"Image-derived phenotypes over {len(cmr.seeds)} sample(s)", rows, 0.30)
    settings = cmr.settings
    figure.text(MARGIN, y - 0.01, f"Sampler: {settings.autoregressive_steps} autoregressive steps, "
                f"{settings.diffusion_steps} diffusion steps, guidance {settings.cfg_scale:g}, temperature "
                f"{settings.temperature:g}, residual scale {settings.residual_scale:g}, "
                f"seeds {', '.join(map(str, cmr.seeds))}; {cmr.seconds:.1f} s.",
                fontsize=7.5, va="top")
    return figure


def _lines(figure: Figure, lines: list[str], top: float, color: str = "black") -> float:
    """Text lines from ``top`` down, each wrapped to the page; returns the y below them."""
    for line in lines:
        wrapped = _wrap(line, TEXT_WIDTH)
        figure.text(MARGIN, top, wrapped, fontsize=8.5, va="top", color=color)
        top -= 0.0165 * (1 + wrapped.count("\n"))
    return top


def _table(figure: Figure, title: str, rows: list[list[str]], top: float) -> float:
    """Draw ``rows`` (the first is the header) under ``title`` from ``top`` down; returns the y below it. Each
    column is as wide as its longest text (within reason), so cells are not clipped."""
    wrapped = _wrap(title, 90)  # bold 9.5 pt: about 90 characters across the page
    figure.text(MARGIN, top, wrapped, fontsize=9.5, weight="bold", va="top")
    top -= 0.017 * wrapped.count("\n")
    cells = [[str(c) for c in row] for row in rows]
    height = ROW_HEIGHT * len(cells)
    axes = figure.add_axes((MARGIN, top - 0.02 - height, 1 - 2 * MARGIN, height))
    axes.set_axis_off()
    longest = [max(len(row[column]) for row in cells) for column in range(len(cells[0]))]
    widths = np.clip(longest, 5, 48) + 2
    table = axes.table(cellText=cells[1:], colLabels=cells[0], loc="upper left", cellLoc="left", bbox=(0, 0, 1, 1),
                       colWidths=list(widths / widths.sum()))
    table.auto_set_font_size(False)
    table.set_fontsize(7.5 if sum(widths) < 130 else 6.5)
    for (r, _), cell in table.get_celld().items():
        cell.set_linewidth(0.3)
        if r == 0:
            cell.set_facecolor("#eeeeee")
    return top - 0.045 - height


def _wrap(text: str, width: int) -> str:
    words, lines, line = text.split(), [], ""
    for word in words:
        if len(line) + len(word) + 1 > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return "\n".join([*lines, line])
