"""Data for training: adapters that turn each source (virtual cohort, UK Biobank, MIMIC-IV-ECG, a generic
manifest) into one prepared format, and the torch datasets that read it."""
