"""Command line: ``python -m cardionets.ecg info PATH [PATH ...] [--json]``.

For WFDB records PATH is the .hea file (its .dat/.mat must sit beside it). Each unreadable file prints a
one-line error on stderr; the exit status is 1 if any file failed.
"""

from __future__ import annotations

import argparse
import json
import sys

from .errors import ECGError
from .load import load
from .summary import summarize


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cardionets.ecg", description="Read and measure 12-lead ECGs.")
    commands = parser.add_subparsers(dest="command", required=True)
    info = commands.add_parser("info", help="format, quality verdict and cart measurements of ECG files")
    info.add_argument("paths", nargs="+", metavar="PATH")
    info.add_argument("--json", action="store_true", help="one JSON object per ECG, one per line")
    info.add_argument("--units", help="amplitude units for CSV/NumPy files that do not store them (mV, uV)")
    info.add_argument("--fs", type=float, help="sampling rate in Hz for CSV/NumPy files that do not store it")
    args = parser.parse_args(argv)

    failed = False
    for path in args.paths:
        try:
            summary = summarize(load(path, units=args.units, fs_hz=args.fs))
        except ECGError as error:
            print(f"error: {path}: {error}", file=sys.stderr)
            failed = True
            continue
        summary = {"file": path, **summary}
        print(json.dumps(summary) if args.json else _as_text(summary))
    return 1 if failed else 0


def _as_text(summary: dict) -> str:
    lines = [
        f"{summary['file']}: {summary['format']}, {summary['fs_hz']:g} Hz, {summary['duration_s']:g} s",
        f"  quality: {summary['qc']['verdict']}",
    ]
    lines += [f"    - {finding['message']}" for finding in summary["qc"]["findings"]]
    device = summary["device_measurements"]
    for key, value in (summary["measurements"] or {}).items():
        cart = f"   (device: {device[key]:g})" if key in device else ""
        lines.append(f"  {key:<20} {'-' if value is None else value}{cart}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
