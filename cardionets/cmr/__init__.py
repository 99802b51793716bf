"""Cine CMR: phenotypes measured on segmented cines (generated or acquired)."""
