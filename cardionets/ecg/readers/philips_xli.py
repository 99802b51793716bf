"""XLI, the lossless waveform compression of Philips PageWriter / TraceMasterVue XML.

The Base64-decoded ``<parsedwaveforms>`` text is a run of chunks, one per lead, in lead order:

* an 8-byte little-endian header: int32 size of the compressed payload, an int16 that decoders ignore, and an
  int16 ``first`` (the second difference that predicts sample 2, explained below);
* the payload: LZW with fixed 10-bit codes packed most-significant-bit first. The table starts with the 256
  single bytes and grows by one entry per code read, up to code 1022; there is no clear code, and 1023 is never
  assigned, so it ends the stream;
* the decompressed bytes hold n int16 values as n high bytes followed by n low bytes;
* values 0 and 1 are the first two samples. Every later sample follows a second-order prediction,
  ``x[k+1] = 2 x[k] - x[k-1] - r[k]``, with ``r[1] = first`` and ``r[k] = value[k] - 64`` for k >= 2; the last
  stored value therefore predicts nothing.

Layout facts from the public sierra-ecg-tools project (C#, Java and pysierraecg) and the ecgdatakit package,
re-implemented here. Leads III, aVR, aVL and aVF come out as residuals; :mod:`.philips` rebuilds them.
"""

from __future__ import annotations

import numpy as np

from ..errors import CorruptFileError

CHUNK_HEADER_BYTES = 8
CODE_BITS = 10
LAST_TABLE_CODE = 1022  # the table stops growing here
END_CODE = 1023
RESIDUAL_OFFSET = 64
# A 10 s lead at 1000 Hz is 20 kB decompressed and a few kB compressed, and a PageWriter stores 12 or 16 leads.
# The caps hold for the whole blob, not each lead, so no count of chunks gets past them: they stop a crafted file
# from expanding (LZW can multiply its input several hundredfold) or looping for minutes, far above any real ECG.
MAX_COMPRESSED_BYTES = 1 << 20
MAX_DECOMPRESSED_BYTES = 4 << 20
MAX_LEADS = 32


def decode_leads(data: bytes) -> list[np.ndarray]:
    """Decompress every chunk of an XLI blob into one int64 sample array per stored lead."""
    if len(data) > MAX_COMPRESSED_BYTES:
        raise CorruptFileError(f"The Philips waveform data is implausibly large ({len(data):,} bytes compressed).")
    leads: list[np.ndarray] = []
    offset, decompressed = 0, 0
    while offset < len(data):
        lead_number = len(leads) + 1
        if lead_number > MAX_LEADS:
            raise CorruptFileError(f"The Philips waveform data holds over {MAX_LEADS} leads; it is damaged or crafted.")
        header = data[offset : offset + CHUNK_HEADER_BYTES]
        if len(header) < CHUNK_HEADER_BYTES:
            raise CorruptFileError(f"The Philips waveform data is cut off inside the header of lead {lead_number}.")
        size = int.from_bytes(header[0:4], "little", signed=True)
        first = int.from_bytes(header[6:8], "little", signed=True)
        offset += CHUNK_HEADER_BYTES
        if size <= 0 or offset + size > len(data):
            raise CorruptFileError(
                f"The Philips waveform data is truncated: lead {lead_number} needs {size} bytes, "
                f"{len(data) - offset} remain. Export the ECG again from the cardiograph or ECG manager."
            )
        buffer = _lzw_decompress(data[offset : offset + size], MAX_DECOMPRESSED_BYTES - decompressed)
        decompressed += len(buffer)
        values = _split_high_low_bytes(buffer, lead_number)
        leads.append(_undo_second_differences(values, first))
        offset += size
    return leads


def _ten_bit_codes(payload: bytes) -> np.ndarray:
    bits = np.unpackbits(np.frombuffer(payload, dtype=np.uint8))
    n_codes = bits.size // CODE_BITS  # trailing padding is shorter than one code
    weights = 1 << np.arange(CODE_BITS - 1, -1, -1)
    return bits[: n_codes * CODE_BITS].reshape(n_codes, CODE_BITS) @ weights


def _lzw_decompress(payload: bytes, limit: int) -> bytes:
    table = [bytes([value]) for value in range(256)]
    out = bytearray()
    previous = b""
    for code in _ten_bit_codes(payload).tolist():
        if code == END_CODE:
            break
        if code < len(table):
            entry = table[code]
        elif code == len(table) and previous:  # the code being defined by this very step
            entry = previous + previous[:1]
        else:
            raise CorruptFileError("The Philips waveform data is damaged (an LZW code refers to nothing).")
        if previous and len(table) <= LAST_TABLE_CODE:
            table.append(previous + entry[:1])
        out += entry
        if len(out) > limit:
            raise CorruptFileError("The Philips waveform data expands beyond any real ECG; it is damaged or crafted.")
        previous = entry
    return bytes(out)


def _split_high_low_bytes(buffer: bytes, lead_number: int) -> np.ndarray:
    if len(buffer) % 2 or len(buffer) < 6:  # three samples at least: two seeds and one prediction
        raise CorruptFileError(f"The Philips waveform data of lead {lead_number} decompresses to a damaged length.")
    raw = np.frombuffer(buffer, dtype=np.uint8)
    half = raw.size // 2
    words = (raw[:half].astype(np.uint16) << 8) | raw[half:]
    return words.view(np.int16).astype(np.int64)


def _undo_second_differences(values: np.ndarray, first: int) -> np.ndarray:
    residuals = values[1:-1] - RESIDUAL_OFFSET  # r[1..n-2]; r[1] is carried by the header instead
    residuals[0] = first
    # x[k+1] - x[k] = (x[1] - x[0]) - (r[1] + ... + r[k]), so two running sums rebuild the samples.
    steps = (values[1] - values[0]) - np.cumsum(residuals)
    samples = np.empty_like(values)
    samples[:2] = values[:2]
    samples[2:] = values[1] + np.cumsum(steps)
    return samples
