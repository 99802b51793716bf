"""XLI encoder: the inverse of ``cardionets.ecg.readers.philips_xli`` (layout documented there).

Per lead: second-order prediction residuals, split into a high-byte half and a low-byte half, LZW with 10-bit
codes (table full at code 1022, no clear code), and an 8-byte chunk header.
"""

from __future__ import annotations

import numpy as np

CODE_BITS = 10
LAST_TABLE_CODE = 1022
RESIDUAL_OFFSET = 64


def encode_leads(leads: list[np.ndarray]) -> bytes:
    """One XLI chunk per lead, concatenated; each lead is a 1-D array of integer samples (at least 3)."""
    return b"".join(_chunk(np.asarray(lead, dtype=np.int64)) for lead in leads)


def _chunk(samples: np.ndarray) -> bytes:
    values, first = _second_differences(samples)
    as_int16 = values.astype(np.int16).view(np.uint16)
    payload = _lzw_compress(((as_int16 >> 8).astype(np.uint8)).tobytes() + (as_int16 & 0xFF).astype(np.uint8).tobytes())
    header = len(payload).to_bytes(4, "little", signed=True) + bytes(2) + int(first).to_bytes(2, "little", signed=True)
    return header + payload


def _second_differences(samples: np.ndarray) -> tuple[np.ndarray, int]:
    """Stored values and the header's ``first``: the samples the decoder's prediction recurrence rebuilds."""
    # r[k] predicts x[k+1] from x[k] and x[k-1]; r[1] travels in the header, r[2..n-2] in the values.
    residuals = 2 * samples[1:-1] - samples[:-2] - samples[2:]  # r[1..n-2]
    values = np.empty_like(samples)
    values[:2] = samples[:2]
    values[2:-1] = residuals[1:] + RESIDUAL_OFFSET
    values[-1] = RESIDUAL_OFFSET  # predicts nothing
    if np.abs(values).max() > np.iinfo(np.int16).max or abs(residuals[0]) > np.iinfo(np.int16).max:
        raise ValueError("samples change too fast for 16-bit XLI values")
    return values, int(residuals[0])


def _lzw_compress(data: bytes) -> bytes:
    table = {bytes([value]): value for value in range(256)}
    codes: list[int] = []
    current = b""
    for value in data:
        extended = current + bytes([value])
        if extended in table:
            current = extended
            continue
        codes.append(table[current])
        if len(table) <= LAST_TABLE_CODE:
            table[extended] = len(table)
        current = bytes([value])
    if current:
        codes.append(table[current])
    return _pack_msb_first(codes)


def _pack_msb_first(codes: list[int]) -> bytes:
    bits = ((np.asarray(codes, dtype=np.uint16)[:, None] >> np.arange(CODE_BITS - 1, -1, -1)) & 1).astype(np.uint8)
    return np.packbits(bits.ravel()).tobytes()  # zero-padded to a whole byte, shorter than one code
