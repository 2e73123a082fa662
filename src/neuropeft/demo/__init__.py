"""Built-in synthetic demo cohort with ground truth.

``neuropeft.demo.cohort.make_demo_cohort(out_dir, DemoSettings(...))`` writes a BIDS dataset
(``out_dir/bids``: whole-head T1w and DWI per subject, sites, labels) made from the MNI152 2009a
template shipped with nilearn, and its ground truth (``out_dir/truth``: masks, bias fields, true
FA/MD, poses, labels).  Modules: settings (DemoSettings), anatomy (template-space head), pose
(affine + deformation), grids (scan grids), gradients (b-table), tensors (tissue model and signal),
bias, design (labels and sites), subject (one subject's arrays), cohort (writing), command (CLI).
"""
