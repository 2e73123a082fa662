"""Built-in synthetic demo cohort with ground truth."""
