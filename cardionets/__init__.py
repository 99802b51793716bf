"""CardioNets: CMR-derived phenotypes, disease probabilities and a synthetic cine CMR from a 12-lead ECG.

Research use only, not for diagnosis.
"""

__version__ = "0.1.0"


def __getattr__(name: str):
    # `cardionets.CardioNets` without importing torch for users of the ECG tools alone.
    if name == "CardioNets":
        from .inference import CardioNets

        return CardioNets
    raise AttributeError(f"module 'cardionets' has no attribute {name!r}")
