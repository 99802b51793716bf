"""The few error types every ECG reader raises.

Each message is written for a clinician: it says what is wrong with the file and, where possible, what to do.
All derive from :class:`ECGError`, so callers (the app, the CLI, batch screening) catch one type.
"""


class ECGError(ValueError):
    """An ECG file could not be turned into a usable 12-lead ECG."""


class UnsupportedFormatError(ECGError):
    """The file is not in any ECG format CardioNets reads."""


class CorruptFileError(ECGError):
    """The file claims a known format but its content is damaged, truncated or unsafe."""


class FileTooLargeError(ECGError):
    """The file is larger than the size cap and was refused before parsing."""


class MissingLeadsError(ECGError):
    """Too few leads to rebuild a 12-lead ECG."""


class SignalError(ECGError):
    """The samples are unusable: implausible units, too short, or not finite."""
