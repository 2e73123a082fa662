"""put predicted label maps back into each subject's native T1w space as BIDS derivatives (*_dseg.nii.gz)"""

from __future__ import annotations

import argparse
from pathlib import Path

from neuropeft.steps import add_settings_argument


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``neuropeft segmentation-to-native``."""
    parser.add_argument(
        "--predicted",
        nargs="+",
        required=True,
        type=Path,
        help="predicted label maps on the model grid, .npy (n, X, Y, Z), e.g. one file per fold",
    )
    parser.add_argument(
        "--index",
        nargs="+",
        required=True,
        type=Path,
        help="per --predicted file, in order: TSV naming its maps' participant_id and session, in order",
    )
    parser.add_argument("--cohort", required=True, type=Path, help="cohort TSV: participant_id, session, stem")
    parser.add_argument(
        "--transforms",
        nargs="+",
        required=True,
        type=Path,
        help="T1w transforms JSONs of `neuropeft register` (<stem>_*.json; their inverse lists are applied)",
    )
    parser.add_argument(
        "--references",
        nargs="+",
        required=True,
        type=Path,
        help="native reference images, the subjects' raw T1w (<stem>_*.nii.gz): the output grids",
    )
    parser.add_argument(
        "--out-dir",
        required=True,
        type=Path,
        help="BIDS derivatives folder: sub-X[/ses-Y]/anat/*_desc-NAME_dseg.nii.gz",
    )
    parser.add_argument("--desc", required=True, help="the desc entity of the outputs (letters and digits)")
    parser.add_argument(
        "--out-list", type=Path, default=None, help="optional TSV of the written files (participant_id, session, path)"
    )
    add_settings_argument(parser)


def main(args: argparse.Namespace) -> None:
    """Warp each predicted map to its subject's T1w grid and write it."""
    from neuropeft.segment.native import segmentation_to_native
    from neuropeft.segment.warp import LabelGridSettings
    from neuropeft.settings import parse_settings

    settings = parse_settings(LabelGridSettings, args.settings)
    segmentation_to_native(
        args.predicted,
        args.index,
        args.cohort,
        args.transforms,
        args.references,
        args.out_dir,
        args.desc,
        settings,
        args.out_list,
    )
