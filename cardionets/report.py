"""The PDF report a clinician downloads: one ECG's result on paper, with its provenance and intended use.

    pdf = pdf_report(result, record, cmr=generated, patient={"name": "...", "age_years": 54, "sex": "F"})

Pages: (1) the patient fields as entered, quality, warnings and the 12-lead printout; (2) measurements,
phenotypes with reference ranges and flags, disease calls with their thresholds; (3, when a cine was generated)
key frames of both SYNTHETIC views, the image-derived phenotypes beside the regression head's, and the sampler
settings. Every page carries the research-use statement and the model version. Drawn with matplotlib (already a
dependency for the ECG printout), so the report needs no PDF library of its own.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime

import numpy as np
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure
from PIL import Image

from .cmr.export import SYNTHETIC, labelled_frames
from .ecg import ECG, preprocess
from .ecg.plot import save_ecg_png
from .inference import WITHHELD_NOTE, GeneratedCMR
from .prediction import RESEARCH_USE, Prediction
from .presentation import disease_rows, measurement_rows, phenotype_rows

A4_INCHES = (8.27, 11.69)
MARGIN = 0.06  # of the page, each side


def pdf_report(result: Prediction, record: ECG, cmr: GeneratedCMR | None = None,
               patient: dict | None = None) -> bytes:
    """The report as PDF bytes. ``patient`` holds the fields as the user entered them (shown verbatim)."""
    buffer = io.BytesIO()
    metadata = {"Title": "CardioNets report", "Subject": RESEARCH_USE, "Creator": "CardioNets",
                "Keywords": "research use only; not for diagnosis" + ("; SYNTHETIC CMR" if cmr else "")}
    with PdfPages(buffer, metadata=metadata) as pdf:
        pdf.savefig(_first_page(result, record, patient or {}))
        pdf.savefig(_tables_page(result))
        if cmr is not None:
            pdf.savefig(_cmr_page(cmr))
    return buffer.getvalue()


def _page(title: str, result: Prediction | None = None, footer: str = "") -> Figure:
    figure = Figure(figsize=A4_INCHES)
    figure.text(MARGIN, 0.965, title, fontsize=15, weight="bold")
    figure.text(MARGIN, 0.945, RESEARCH_USE, fontsize=8.5, color="#b00020")
    model = "" if result is None else (f"CardioNets {result.model.get('cardionets_version')}, weights "
                                       f"{result.model.get('recipe')} of {result.model.get('bundle_created')}")
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    figure.text(MARGIN, 0.02, f"{model}  ·  printed {stamp}  {footer}".strip(), fontsize=7, color="#555555")
    return figure


def _first_page(result: Prediction, record: ECG, patient: dict) -> Figure:
    figure = _page("CardioNets: ECG-derived cardiac report", result)
    fields = {**{k: v for k, v in result.patient.items() if v is not None}, **patient}
    interpretation = [f"The cart's own interpretation: {' / '.join(result.interpretation)}"] \
        if result.interpretation else []
    lines = [", ".join(f"{_label(k)}: {v}" for k, v in fields.items() if v not in (None, "")) or "Patient: not given",
             *interpretation, f"Signal quality: {result.qc['verdict'].upper()}",
             *(f"  - {finding['message']}" for finding in result.qc["findings"]),
             *(f"Warning: {warning}" for warning in result.ood.warnings)]
    y = 0.92
    for line in lines[:14]:
        figure.text(MARGIN, y, _wrap(line, 120), fontsize=8.5, va="top")
        y -= 0.018 * (1 + line.count("\n") + len(line) // 120)
    png = io.BytesIO()
    save_ecg_png(preprocess(record), png, dpi=110)
    png.seek(0)  # the printout comes back as an image: one renderer for the app and the report
    image = np.asarray(Image.open(png))
    height = (1 - 2 * MARGIN) * image.shape[0] / image.shape[1] * A4_INCHES[0] / A4_INCHES[1]
    axes = figure.add_axes((MARGIN, max(0.05, y - 0.02 - height), 1 - 2 * MARGIN, height))
    axes.imshow(image)
    axes.set_axis_off()
    return figure


def _tables_page(result: Prediction) -> Figure:
    figure = _page("Measurements, CMR phenotypes and disease probabilities", result)
    if result.rejected:
        figure.text(MARGIN, 0.9, "The quality check rejected this ECG, so the models gave no output.", fontsize=10)
        return figure
    y = 0.92
    for disagreement in result.disagreements:  # beside the call it questions
        figure.text(MARGIN, y, _wrap(disagreement, 110), fontsize=8.5, color="#b00020", va="top")
        y -= 0.018 * (2 + len(disagreement) // 110)
    if result.ood.withheld:  # the warning travels with the tables it qualifies, not only on page 1
        reasons = " ".join(warning for warning in result.ood.warnings if warning != WITHHELD_NOTE)
        figure.text(MARGIN, y, _wrap(f"Calls and flags withheld. {reasons}", 110),
                    fontsize=8.5, color="#b00020", va="top")
        y -= 0.05
    for title, rows in (
            ("ECG measurements (CardioNets and the cart's own)", measurement_rows(result)),
            ("CMR phenotypes estimated from the ECG, 95 % prediction intervals (reference: healthy adults; LV "
             "Petersen 2017, RV Hudsmith 2005; flagged only when the whole interval lies outside)",
             phenotype_rows(result, limit=20)),
            ("Disease probabilities (call threshold: best sensitivity + specificity on validation data)",
             disease_rows(result))):
        y = _table(figure, title, rows, y)
    return figure


def _cmr_page(cmr: GeneratedCMR) -> Figure:
    figure = _page(f"{SYNTHETIC} cine CMR generated from the ECG", footer=f"· {SYNTHETIC} images")
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
    rows = [["phenotype", "from the images (mean ± SD)", "regression head", "disagree?"]]
    for name in cmr.image_phenotypes.mean:
        head = cmr.predicted_phenotypes.get(name)
        flag = cmr.disagreements.get(name, False)
        rows.append([name, cmr.image_phenotypes.cell(name), "-" if head is None else f"{head:.1f}",
                     {True: "YES", None: "needs 2+ samples"}.get(flag, "")])
    y = _table(figure, f"Image-derived phenotypes over {len(cmr.seeds)} sample(s)", rows, 0.30)
    settings = cmr.settings
    figure.text(MARGIN, y - 0.01, f"Sampler: {settings.autoregressive_steps} autoregressive steps, "
                f"{settings.diffusion_steps} diffusion steps, guidance {settings.cfg_scale:g}, temperature "
                f"{settings.temperature:g}, residual scale {settings.residual_scale:g}, "
                f"seeds {', '.join(map(str, cmr.seeds))}; {cmr.seconds:.1f} s.",
                fontsize=7.5, va="top")
    return figure


def _table(figure: Figure, title: str, rows: list[list[str]], top: float) -> float:
    """Draw ``rows`` (the first is the header) under ``title`` from ``top`` down; returns the y below it."""
    figure.text(MARGIN, top, title, fontsize=9.5, weight="bold", va="top")
    row_height = 0.0155
    height = row_height * len(rows)
    axes = figure.add_axes((MARGIN, top - 0.02 - height, 1 - 2 * MARGIN, height))
    axes.set_axis_off()
    table = axes.table(cellText=[[str(c) for c in row] for row in rows[1:]], colLabels=rows[0], loc="upper left",
                       cellLoc="left", bbox=(0, 0, 1, 1))
    table.auto_set_font_size(False)
    table.set_fontsize(7.5)
    for (r, _), cell in table.get_celld().items():
        cell.set_linewidth(0.3)
        if r == 0:
            cell.set_facecolor("#eeeeee")
    return top - 0.045 - height


def _label(key: str) -> str:
    return {"age_years": "Age (years)", "sex": "Sex"}.get(key, key.replace("_", " ").capitalize())


def _wrap(text: str, width: int) -> str:
    words, lines, line = text.split(), [], ""
    for word in words:
        if len(line) + len(word) + 1 > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return "\n".join([*lines, line])
