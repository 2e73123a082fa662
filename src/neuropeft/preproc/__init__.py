"""Preprocessing steps: N4, skull stripping, registration, tensor fitting, resampling, QC."""
