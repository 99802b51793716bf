"""Writers that produce vendor ECG files in each vendor's real layout, so readers can be tested by round trip.

``philips``, ``hl7_aecg`` and ``ukbiobank`` here, like the package's ``cardionets.ecg.writers.ge_muse``, each offer
``write(recording, ...) -> bytes`` and ``CARRIED_MEASUREMENTS``, the device measurement keys the format holds;
``philips_xli`` is the XLI encoder. The input they share, ``Recording``, lives in ``cardionets.ecg.writers``.
Layout sources are named in the reader module of the same format.
"""

import numpy as np

from cardionets.ecg.writers import ge_muse
from cardionets.ecg.writers.recording import EXAMPLE_MEASUREMENTS, EXAMPLE_STATEMENTS, Recording

from . import hl7_aecg, philips, ukbiobank


def vendor_files(ecg) -> dict[str, bytes]:
    """The canonical ``ecg`` (any rate) written in every vendor XML format, keyed by format name."""
    recording = Recording(
        np.asarray(ecg.signal_mv, dtype=np.float64), int(ecg.fs_hz), 42, "F", 168, 62,
        dict(EXAMPLE_MEASUREMENTS), list(EXAMPLE_STATEMENTS),
    )
    return {
        "ge_muse_xml": ge_muse.write(recording),
        "philips_xml": philips.write(recording),
        "hl7_aecg": hl7_aecg.write(recording),
        "ukbiobank_xml": ukbiobank.write(recording),
    }
