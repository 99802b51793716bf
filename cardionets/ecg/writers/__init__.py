"""Writing canonical ECGs back out as the files carts produce, for exports and round-trip tests.

    from cardionets.ecg.writers import Recording, ge_muse, write_dicom_waveform
    xml_bytes = ge_muse.write(Recording.from_ecg(ecg))     # GE MUSE XML, 8 stored leads
    write_dicom_waveform(ecg, "ecg.dcm")                    # DICOM 12-lead ECG waveform

Each format's layout is described in the reader module of the same name under ``cardionets.ecg.readers``.
"""

from . import ge_muse
from .dicom_waveform import write_dicom_waveform
from .recording import Recording

__all__ = ["Recording", "ge_muse", "write_dicom_waveform"]
