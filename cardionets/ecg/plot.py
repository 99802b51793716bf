"""The ECG paper plot: the standard 12-lead printout, interactive (plotly) or as a PNG (matplotlib).

    layout = paper_layout(record)          # where every lead, pulse and grid line sits, in mm
    fig = ecg_paper_figure(record)         # zoomable plotly figure, true aspect
    save_ecg_png(record, "ecg.png")        # the same page as an image

Both renderers draw from one PaperLayout, so the browser view and the exported image put every trace, pulse and
label at the same millimetre. They plot the ECG exactly as given: call ``preprocess`` first for a cart-like
printout; the legend states whatever filtering the record's notes say it went through.

The page follows common resting-ECG printouts: 3 rows x 4 columns (I, aVR, V1, V4 / II, aVL, V2, V5 / III,
aVF, V3, V6), each column showing the next quarter of the printed span, plus a full-length lead II rhythm strip;
25 mm/s, 10 mm/mV, 1 mm / 5 mm grid and a 1 mV x 200 ms calibration pulse at the start of each row. The printed
span is the first 10 s, or the whole record when it is shorter (each column then shows a quarter of it, so all
12 leads stay on the page).
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure

from .record import ECG

PAPER_SPEED_MM_PER_S = 25.0
GAIN_MM_PER_MV = 10.0
MINOR_GRID_MM = 1.0
MAJOR_GRID_MM = 5.0
PRINTED_DURATION_S = 10.0
CALIBRATION_MV = 1.0
CALIBRATION_S = 0.2

LEAD_ROWS: tuple[tuple[str, ...], ...] = (
    ("I", "aVR", "V1", "V4"),
    ("II", "aVL", "V2", "V5"),
    ("III", "aVF", "V3", "V6"),
)
RHYTHM_LEAD = "II"

MINOR_GRID_COLOUR = "#f7c6c6"
MAJOR_GRID_COLOUR = "#e58a8a"
PAPER_COLOUR = "#fffafa"
TRACE_COLOUR = "#111111"

_SIDE_MARGIN_MM = 5.0
_CALIBRATION_AREA_MM = 10.0  # the 5 mm pulse with 2.5 mm of baseline either side
_ROW_PITCH_MM = 40.0  # +-2 mV around each baseline before a trace reaches the next row
_HEADER_MM = 10.0
_FOOTER_MM = 10.0
_SEPARATOR_HALF_HEIGHT_MM = 4.0
_LABEL_OFFSET_MM = (1.0, 11.0)  # middle of the label's left edge, from the start of its strip's baseline
_DISPLAY_POINTS_PER_S = 250  # min/max pairs per second: 2 ms resolution, so no QRS peak is lost

Polyline = tuple[tuple[float, float], ...]  # (x_mm, y_mm) vertices


@dataclass(frozen=True)
class LeadPanel:
    """One strip of one lead on the paper: which seconds of the record it shows and where they are drawn."""

    lead: str  # standard name, "V3"
    label: str  # printed name: "V3", "V3 (missing)" when the file had no such lead, "aVR (derived)" when computed
    start_s: float
    stop_s: float
    x_mm: float  # where start_s is drawn
    baseline_mm: float  # where 0 mV is drawn
    missing: bool

    @property
    def label_xy_mm(self) -> tuple[float, float]:
        return self.x_mm + _LABEL_OFFSET_MM[0], self.baseline_mm + _LABEL_OFFSET_MM[1]

    def trace_mm(self, ecg: ECG) -> tuple[np.ndarray, np.ndarray]:
        """Paper coordinates (x_mm, y_mm) of this strip's samples; a missing lead is a flat line."""
        first, stop = round(self.start_s * ecg.fs_hz), round(self.stop_s * ecg.fs_hz)
        time_s = np.arange(first, stop) / ecg.fs_hz
        mv = np.zeros(stop - first) if self.missing else ecg.lead(self.lead)[first:stop].astype(np.float64)
        return (self.x_mm + (time_s - self.start_s) * PAPER_SPEED_MM_PER_S,
                self.baseline_mm + mv * GAIN_MM_PER_MV)


@dataclass(frozen=True)
class PaperLayout:
    """The printed page in millimetres, origin at the bottom-left corner, y pointing up."""

    width_mm: float
    height_mm: float
    panels: tuple[LeadPanel, ...]  # the 12 leads row by row, then the rhythm strip
    calibration_pulses: tuple[Polyline, ...]  # one per row
    separators: tuple[Polyline, ...]  # short ticks where one column's lead gives way to the next
    title: str | None
    legend: str  # speed, gain, sampling rate, filtering, printed span

    @property
    def title_xy_mm(self) -> tuple[float, float]:
        return _SIDE_MARGIN_MM, self.height_mm - _HEADER_MM / 2

    @property
    def legend_xy_mm(self) -> tuple[float, float]:
        return _SIDE_MARGIN_MM, _FOOTER_MM / 2

    def grid_lines_mm(self, step_mm: float, skip_every_mm: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """x of the vertical and y of the horizontal grid lines every step_mm, leaving out multiples of skip."""
        def positions(extent_mm: float) -> np.ndarray:
            at = np.arange(math.floor(extent_mm / step_mm + 1e-9) + 1) * step_mm
            if skip_every_mm is not None:
                multiples = at / skip_every_mm
                at = at[~np.isclose(multiples, np.round(multiples))]
            return at
        return positions(self.width_mm), positions(self.height_mm)


def paper_layout(ecg: ECG, title: str | None = None) -> PaperLayout:
    """Place the 12 leads, the rhythm strip, pulses and separators for this record on the page."""
    printed_s = min(ecg.duration_s, PRINTED_DURATION_S)
    column_s = printed_s / len(LEAD_ROWS[0])
    trace_x0 = _SIDE_MARGIN_MM + _CALIBRATION_AREA_MM
    width = trace_x0 + printed_s * PAPER_SPEED_MM_PER_S + _SIDE_MARGIN_MM
    n_rows = len(LEAD_ROWS) + 1
    height = _HEADER_MM + n_rows * _ROW_PITCH_MM + _FOOTER_MM
    baselines = [height - _HEADER_MM - (row + 0.5) * _ROW_PITCH_MM for row in range(n_rows)]
    missing, derived = set(ecg.meta.missing_leads), set(ecg.meta.derived_leads)

    def panel(lead: str, start_s: float, stop_s: float, baseline: float) -> LeadPanel:
        label = f"{lead} (missing)" if lead in missing else f"{lead} (derived)" if lead in derived else lead
        x = trace_x0 + start_s * PAPER_SPEED_MM_PER_S
        return LeadPanel(lead, label, start_s, stop_s, x, baseline, lead in missing)

    panels = [
        panel(lead, column * column_s, (column + 1) * column_s, baselines[row])
        for row, leads in enumerate(LEAD_ROWS) for column, lead in enumerate(leads)
    ]
    panels.append(panel(RHYTHM_LEAD, 0.0, printed_s, baselines[-1]))
    separators = tuple(
        ((x, y - _SEPARATOR_HALF_HEIGHT_MM), (x, y + _SEPARATOR_HALF_HEIGHT_MM))
        for y in baselines[:-1]
        for x in (trace_x0 + c * column_s * PAPER_SPEED_MM_PER_S for c in range(1, len(LEAD_ROWS[0])))
    )
    return PaperLayout(
        width_mm=width,
        height_mm=height,
        panels=tuple(panels),
        calibration_pulses=tuple(_calibration_pulse(_SIDE_MARGIN_MM, y) for y in baselines),
        separators=separators,
        title=title,
        legend=_legend(ecg, printed_s),
    )


def ecg_paper_figure(ecg: ECG, title: str | None = None) -> go.Figure:
    """The printout as a zoomable plotly figure in paper millimetres, 1 mm square on screen.

    The ECG is drawn as given (no filtering here). Each lead is one trace whose ``meta`` is its lead name;
    hovering shows lead, time and amplitude. Traces are thinned to min/max pairs at 2 ms for speed.
    """
    layout = paper_layout(ecg, title)
    data: list[go.Scatter] = [
        _polyline_trace(_grid_polylines(layout, MINOR_GRID_MM, MAJOR_GRID_MM), MINOR_GRID_COLOUR, 0.5),
        _polyline_trace(_grid_polylines(layout, MAJOR_GRID_MM), MAJOR_GRID_COLOUR, 1.0),
        _polyline_trace(layout.calibration_pulses + layout.separators, TRACE_COLOUR, 1.2),
    ]
    for panel in layout.panels:
        x, y = _keep_peaks(*panel.trace_mm(ecg), ecg.fs_hz)
        time_s = panel.start_s + (x - panel.x_mm) / PAPER_SPEED_MM_PER_S
        mv = (y - panel.baseline_mm) / GAIN_MM_PER_MV
        data.append(go.Scatter(
            x=x, y=y, mode="lines", line=dict(color=TRACE_COLOUR, width=1.1), meta=panel.lead,
            name=panel.label, customdata=np.column_stack([time_s, mv]),
            hovertemplate=f"{panel.label}<br>%{{customdata[0]:.3f}} s<br>%{{customdata[1]:.2f}} mV<extra></extra>",
        ))
    label_xy = np.array([panel.label_xy_mm for panel in layout.panels])
    data.append(go.Scatter(
        x=label_xy[:, 0], y=label_xy[:, 1], mode="text", text=[panel.label for panel in layout.panels],
        textposition="middle right", textfont=dict(size=13, color=TRACE_COLOUR), hoverinfo="skip",
    ))
    texts = [(layout.legend, layout.legend_xy_mm, 11)]
    if layout.title:
        texts.append((layout.title, layout.title_xy_mm, 15))
    figure = go.Figure(data=data)
    figure.update_layout(
        showlegend=False, hovermode="closest", dragmode="zoom", plot_bgcolor=PAPER_COLOUR,
        paper_bgcolor="white", margin=dict(l=10, r=10, t=10, b=10), height=720,
        annotations=[dict(x=x, y=y, text=text, showarrow=False, xanchor="left", yanchor="middle",
                          font=dict(size=size, color=TRACE_COLOUR)) for text, (x, y), size in texts],
        xaxis=dict(range=[0, layout.width_mm], showticklabels=False, showgrid=False, zeroline=False,
                   constrain="domain"),
        yaxis=dict(range=[0, layout.height_mm], showticklabels=False, showgrid=False, zeroline=False,
                   scaleanchor="x", scaleratio=1, constrain="domain"),
    )
    return figure


def save_ecg_png(ecg: ECG, destination: str | os.PathLike | io.IOBase, dpi: int = 150,
                 title: str | None = None) -> None:
    """Write the printout as a PNG (path or binary file object); the ECG is drawn as given, unfiltered here.

    The image is the page at true scale: width_mm / 25.4 * dpi pixels wide, so printing it at 100% gives
    25 mm/s and 10 mm/mV on paper.
    """
    layout = paper_layout(ecg, title)
    figure = Figure(figsize=(layout.width_mm / 25.4, layout.height_mm / 25.4), facecolor=PAPER_COLOUR)
    FigureCanvasAgg(figure)  # render off-screen, whatever backend pyplot is using
    axes = figure.add_axes((0, 0, 1, 1))
    axes.set_xlim(0, layout.width_mm)
    axes.set_ylim(0, layout.height_mm)
    axes.set_aspect("equal")
    axes.set_axis_off()
    # Line widths are in points (1/72 inch), i.e. true paper widths: 0.1 mm minor grid, 0.2 mm major, 0.2 mm ink.
    axes.add_collection(LineCollection(_grid_polylines(layout, MINOR_GRID_MM, MAJOR_GRID_MM),
                                       colors=MINOR_GRID_COLOUR, linewidths=0.3))
    axes.add_collection(LineCollection(_grid_polylines(layout, MAJOR_GRID_MM), colors=MAJOR_GRID_COLOUR,
                                       linewidths=0.6))
    axes.add_collection(LineCollection(layout.calibration_pulses + layout.separators, colors=TRACE_COLOUR,
                                       linewidths=0.6))
    for panel in layout.panels:
        axes.plot(*panel.trace_mm(ecg), color=TRACE_COLOUR, linewidth=0.6)
        axes.text(*panel.label_xy_mm, panel.label, fontsize=9, color=TRACE_COLOUR, va="center")
    axes.text(*layout.legend_xy_mm, layout.legend, fontsize=8, color=TRACE_COLOUR, va="center")
    if layout.title:
        axes.text(*layout.title_xy_mm, layout.title, fontsize=11, color=TRACE_COLOUR, va="center")
    figure.savefig(destination, dpi=dpi, format="png", facecolor=PAPER_COLOUR)


def _calibration_pulse(x_mm: float, baseline_mm: float) -> Polyline:
    """A 1 mV x 200 ms square pulse centred in the calibration area."""
    width = CALIBRATION_S * PAPER_SPEED_MM_PER_S
    lead_in = (_CALIBRATION_AREA_MM - width) / 2
    top = baseline_mm + CALIBRATION_MV * GAIN_MM_PER_MV
    corners_x = (x_mm, x_mm + lead_in, x_mm + lead_in, x_mm + lead_in + width, x_mm + lead_in + width,
                 x_mm + _CALIBRATION_AREA_MM)
    corners_y = (baseline_mm, baseline_mm, top, top, baseline_mm, baseline_mm)
    return tuple(zip(corners_x, corners_y))


def _legend(ecg: ECG, printed_s: float) -> str:
    filtering = [note for note in ecg.meta.notes if note.startswith("filtered")] or ["unfiltered"]
    truncated = ecg.duration_s > printed_s
    span = f"first {printed_s:g} s of {ecg.duration_s:.1f} s" if truncated else f"{printed_s:.1f} s"
    rate = (f"{ecg.fs_hz:g} Hz" if ecg.meta.original_fs_hz == ecg.fs_hz
            else f"{ecg.fs_hz:g} Hz (recorded at {ecg.meta.original_fs_hz:g} Hz)")
    return (f"{PAPER_SPEED_MM_PER_S:g} mm/s, {GAIN_MM_PER_MV:g} mm/mV   {rate}   "
            f"{'; '.join(filtering)}   {span}")


def _grid_polylines(layout: PaperLayout, step_mm: float, skip_every_mm: float | None = None) -> list[Polyline]:
    verticals, horizontals = layout.grid_lines_mm(step_mm, skip_every_mm)
    return ([((x, 0.0), (x, layout.height_mm)) for x in verticals]
            + [((0.0, y), (layout.width_mm, y)) for y in horizontals])


def _polyline_trace(polylines: Sequence[Polyline], colour: str, width: float) -> go.Scatter:
    """Many polylines as one trace (gaps between them), far cheaper to build and draw than one shape each."""
    points = [vertex for line in polylines for vertex in (*line, (None, None))]
    x, y = zip(*points)
    return go.Scatter(x=x, y=y, mode="lines", line=dict(color=colour, width=width), hoverinfo="skip")


def _keep_peaks(x: np.ndarray, y: np.ndarray, fs_hz: float) -> tuple[np.ndarray, np.ndarray]:
    """Thin to each bucket's minimum and maximum, in time order, so every peak survives the decimation."""
    bucket = math.floor(fs_hz / _DISPLAY_POINTS_PER_S)
    n_buckets = len(y) // bucket
    if bucket < 3 or n_buckets < 2:  # a pair from a bucket of 2 is the bucket itself
        return x, y
    whole = n_buckets * bucket
    rows = y[:whole].reshape(n_buckets, bucket)
    offsets = np.arange(n_buckets)[:, None] * bucket
    picks = np.sort(np.column_stack([rows.argmin(axis=1), rows.argmax(axis=1)]), axis=1) + offsets
    keep = np.concatenate([picks.ravel(), np.arange(whole, len(y))])
    return x[keep], y[keep]
