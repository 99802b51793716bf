"""CardioNets: CMR-derived phenotypes, disease probabilities and a synthetic cine CMR from a 12-lead ECG.

Research use only, not for diagnosis.
"""

__version__ = "0.1.0"
