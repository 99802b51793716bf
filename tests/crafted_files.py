"""Small files built to expand into gigabytes or minutes when read, one per way issue 25 found.

Each builder returns ``{file name: bytes}`` (a WFDB record is two files). Every file is under the 64 MB upload
cap; before the readers bounded what they decode, each took gigabytes or tens of seconds.
"""

from __future__ import annotations

import base64
import io
import re
import zipfile

import numpy as np
import pydicom

MEMORY_BOMB_NPZ_BYTES = 480_000_000  # int8 zeros: deflate makes them about 470 kB; as float64, 3.8 GB


def npz_of_zeros() -> dict[str, bytes]:
    """A 470 kB .npz whose signal array declares 480 million int8 zeros, with its rate (so a reader goes on)."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "|i1", "fortran_order": False,
                                                  "shape": (12, MEMORY_BOMB_NPZ_BYTES // 12)})
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("signal.npy", "w", force_zip64=True) as member:
            member.write(header.getvalue())
            zeros = bytes(1 << 24)
            for _ in range(MEMORY_BOMB_NPZ_BYTES // len(zeros)):
                member.write(zeros)
            member.write(bytes(MEMORY_BOMB_NPZ_BYTES % len(zeros)))
        rate = io.BytesIO()
        np.save(rate, np.array(500.0))
        archive.writestr("fs.npy", rate.getvalue())
    return {"bomb.npz": buffer.getvalue()}


def wfdb_with_huge_skew() -> dict[str, bytes]:
    """A 12-lead WFDB record whose header (under 600 bytes) gives each signal a skew of a billion samples."""
    leads = ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]
    lines = ["skew 12 500 5000"] + [f"skew.dat 16:1000000000 200/mV 16 0 0 0 0 {lead}" for lead in leads]
    return {"skew.hea": ("\n".join(lines) + "\n").encode(), "skew.dat": bytes(5000 * 12 * 2)}


def philips_with_many_chunks(philips_xml: bytes, chunks: int = 6000) -> dict[str, bytes]:
    """A real-layout Philips XLI file whose waveform blob repeats its leads' chunks to ``chunks`` chunks."""
    match = re.search(rb"(<parsedwaveforms[^>]*>)(.*?)(</parsedwaveforms>)", philips_xml, re.DOTALL)
    blob = base64.b64decode(b"".join(match.group(2).split()))
    lead_chunks, offset = [], 0
    while offset < len(blob):
        size = int.from_bytes(blob[offset:offset + 4], "little")
        lead_chunks.append(blob[offset:offset + 8 + size])
        offset += 8 + size
    repeated = b"".join(lead_chunks[i % len(lead_chunks)] for i in range(chunks))
    document = philips_xml[:match.start(2)] + base64.b64encode(repeated) + philips_xml[match.end(2):]
    return {"chunks.xml": document}


def dicom_8bit_60mb(dicom: bytes) -> dict[str, bytes]:
    """The real Mortara DICOM ECG with its rhythm waveform replaced by 60 MB of 8-bit samples."""
    dataset = pydicom.dcmread(io.BytesIO(dicom))
    group = dataset.WaveformSequence[0]
    channels = int(group.NumberOfWaveformChannels)
    samples = 60_000_000 // channels
    group.WaveformBitsAllocated = 8
    group.WaveformSampleInterpretation = "SB"
    group.NumberOfWaveformSamples = samples
    group.WaveformData = bytes(samples * channels)
    out = io.BytesIO()
    dataset.save_as(out)
    return {"big.dcm": out.getvalue()}


def xml_with_millions_of_elements(count: int = 15_000_000) -> dict[str, bytes]:
    """A GE MUSE root holding ``count`` empty elements (60 MB at 15 million)."""
    return {"wide.xml": b"<RestingECG>" + b"<a/>" * count + b"</RestingECG>"}


def xml_nested_deep(depth: int = 9_000_000) -> dict[str, bytes]:
    """A GE MUSE root with elements nested ``depth`` deep (63 MB at 9 million)."""
    return {"deep.xml": b"<RestingECG>" + b"<a>" * depth + b"</a>" * depth + b"</RestingECG>"}


def hl7_with_a_huge_digit_run(hl7_xml: bytes, values: int = 20_000_000) -> dict[str, bytes]:
    """A real-layout HL7 aECG whose first lead's digits run to ``values`` numbers (40 MB at 20 million)."""
    match = re.search(rb"<digits>(.*?)</digits>", hl7_xml, re.DOTALL)
    return {"long.xml": hl7_xml[:match.start(1)] + b"1 " * values + hl7_xml[match.end(1):]}


def csv_of_zeros(megabytes: int = 60) -> dict[str, bytes]:
    """A CSV of 12 columns of zeros, ``megabytes`` long: 30 million numbers at 60 MB."""
    header = b"I,II,III,aVR,aVL,aVF,V1,V2,V3,V4,V5,V6\n"
    row = b"0," * 11 + b"0\n"
    return {"zeros.csv": header + row * (megabytes * 2**20 // len(row))}
