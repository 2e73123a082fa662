"""neuropeft: BIDS diffusion/T1w MRI to validated predictions with parameter-efficient fine-tuning."""

__version__ = "0.1.0"
