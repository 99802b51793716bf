"""The virtual paired cohort: simulated subjects whose 12-lead ECG, two-view cine CMR, masks, phenotypes and
diagnoses all follow from one simulated heart. CLI: ``python -m cardionets.sim``."""
