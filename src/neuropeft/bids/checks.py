"""File checks that need no image data: NIfTI headers, gzip integrity, .bval/.bvec content.

Only headers are read: the image data are never decoded, so NaN/Inf voxels cannot be seen here; the
processing steps check those when they read the data. :func:`read_nifti_header` reads the first
kilobyte of the (decompressed) file with nibabel's header classes, which is what ``nibabel.load``
reads too, without building an image and running nibabel's header checks only when a mirror of them
finds something (a cold index of 1,000 subjects: ~1.1 s instead of ~2.5 s); a file it does not
accept is passed to ``nibabel.load``, so a bad file's problem line is the one ``nibabel.load`` gives. A
truncated ``.nii.gz`` is found from the gzip trailer (the uncompressed size stored in its last 4
bytes); only when that does not match the header is the file decompressed (streamed) to decide.
"""

from __future__ import annotations

import errno
import functools
import gzip
import io
import json
import math
import os
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np

from neuropeft.bids.problems import Problem, one_line

if TYPE_CHECKING:
    from nibabel import Nifti1Header

#: b-values up to this count as b=0 volumes
B0_MAX = 50.0
#: allowed deviation of a diffusion-weighted gradient direction's length from 1
UNIT_TOLERANCE = 0.1
_CHUNK = 1 << 22
#: bytes ``nibabel.load`` reads to tell the image type (``path_maybe_image``'s ``sniff_max``)
_SNIFF = 1024
#: the bytes 344-347 of a header that ``Nifti1Header.may_contain_header`` accepts (magic ``ni1``/``n+1``)
_NIFTI1_MAGIC = (b"ni1\0", b"n+1\0")


#: what ``os.stat`` raises for a path that is not there (the errors ``Path.exists`` takes for False)
_NOT_THERE = (errno.ENOENT, errno.ENOTDIR, errno.EBADF, errno.ELOOP)


def _size_or_message(path: Path) -> tuple[int, str | None]:
    """The file's size and, when it cannot be used (broken symlink, missing, empty), why (one ``stat``)."""
    try:
        size = os.stat(path).st_size
    except OSError as error:
        if error.errno not in _NOT_THERE:
            raise
        if os.path.islink(path):
            return 0, (
                "is a broken symlink (annexed content not fetched?); fetch it (datalad get / git annex get) or replace it"
            )
        return 0, "does not exist; add it or fix the path"
    if size == 0:
        return 0, "is empty (0 bytes); replace it with the real file (re-run the conversion or re-download it)"
    return size, None


def _missing_file_message(path: Path) -> str | None:
    return _size_or_message(path)[1]


def _gunzip_size(path: Path) -> int:
    """Uncompressed size of a gzip file, found by streaming it (raises on corrupt data)."""
    total = 0
    with gzip.open(path, "rb") as stream:
        while chunk := stream.read(_CHUNK):
            total += len(chunk)
    return total


def _gzip_trailer(handle: BinaryIO) -> int:
    """The uncompressed size modulo 2**32 that a gzip file stores in its last 4 bytes."""
    handle.seek(-4, 2)
    return int.from_bytes(handle.read(4), "little")


def _truncation_message(path: Path, expected: int, size: int, trailer: int | None = None) -> str | None:
    """Why the file (of ``size`` bytes, gzip ``trailer`` if read) holds fewer bytes than the header announces, or None."""
    if path.name.endswith(".gz"):
        if trailer is None:
            with open(path, "rb") as handle:
                trailer = _gzip_trailer(handle)
        if trailer == expected % (1 << 32):
            return None
        try:
            actual = _gunzip_size(path)
        except (OSError, EOFError, zlib.error) as error:
            return f"is corrupt or truncated ({one_line(str(error))}); re-download or re-convert it"
    else:
        actual = size
    if actual < expected:
        return f"is truncated ({actual} of the {expected} bytes its header announces); re-download or re-convert it"
    return None


#: nibabel's header checks (``check_fix``) that :func:`_passes_header_checks` mirrors
_MIRRORED_CHECKS = (
    "AnalyzeHeader._chk_sizeof_hdr",
    "AnalyzeHeader._chk_datatype",
    "AnalyzeHeader._chk_bitpix",
    "AnalyzeHeader._chk_pixdims",
    "Nifti1Header._chk_qfac",
    "Nifti1Header._chk_magic",
    "Nifti1Header._chk_offset",
    "Nifti1Header._chk_qform_code",
    "Nifti1Header._chk_sform_code",
)
_EOL_CHECK = "Nifti2Header._chk_eol_check"


@functools.cache
def _mirrored(klass: type[Nifti1Header]) -> tuple[frozenset[int], frozenset[int], bool] | None:
    """(valid qform codes, valid sform codes, NIfTI-2 eol check) when ``klass``'s checks are those mirrored, else None."""
    names = tuple(check.__qualname__ for check in klass._get_checks())
    if names not in (_MIRRORED_CHECKS, (*_MIRRORED_CHECKS, _EOL_CHECK)):
        return None  # another nibabel version: always run its checks
    qform, sform = (
        frozenset(int(c) for c in klass._field_recoders[f].value_set()) for f in ("qform_code", "sform_code")
    )
    return qform, sform, names[-1] == _EOL_CHECK


def _passes_header_checks(header: Any) -> bool:
    """True when nibabel's header checks would find nothing: ``check_fix`` would then change, log and raise nothing.

    The same tests as nibabel's checks (listed in ``_MIRRORED_CHECKS``), on the same fields, at a
    fraction of their cost; False means "run nibabel's checks", which then decide.
    """
    klass = type(header)
    mirrored = _mirrored(klass)
    if mirrored is None:
        return False
    qform_codes, sform_codes, eol_check = mirrored
    try:
        dtype = klass._data_type_codes.dtype[int(header["datatype"])]
    except KeyError:
        return False
    pixdim = header["pixdim"].tolist()  # Python floats: the same comparisons, without numpy's per-call cost
    magic, offset = header["magic"].item(), header["vox_offset"].item()
    offset_ok = offset == 0 or (
        not (magic == header.single_magic and offset < header.single_vox_offset) and not offset % 16
    )
    return bool(
        header["sizeof_hdr"].item() == klass.sizeof_hdr
        and dtype.itemsize != 0
        and header["bitpix"].item() == dtype.itemsize * 8
        and not any(value <= 0 for value in pixdim[1:4])
        and pixdim[0] in (-1, 1)
        and magic in (header.pair_magic, header.single_magic)
        and offset_ok
        and int(header["qform_code"]) in qform_codes
        and int(header["sform_code"]) in sform_codes
        and (not eol_check or header["eol_check"].tolist() == [13, 10, 26, 10])
    )


class NotFastReadable(Exception):
    """:func:`read_nifti_header` leaves this file to ``nibabel.load`` (it may still be a valid image)."""


def read_nifti_header(path: Path) -> Nifti1Header:
    """The header of a single-file NIfTI-1 or NIfTI-2 image (``.nii`` or ``.nii.gz``), read from its first bytes.

    Takes ``nibabel.load``'s decisions on the same bytes: the type from the first 1,024 bytes
    (NIfTI-1 magic ``n+1``/``ni1``, else NIfTI-2 by ``sizeof_hdr`` unless it is CIFTI-2), then
    ``from_fileobj`` with nibabel's header checks (``check_fix``, skipped when a cheap mirror of
    them finds nothing to check), header extensions, the scaling and the affine. Raises
    :class:`NotFastReadable` for any file ``nibabel.load`` would treat differently (other names,
    unreadable first kilobyte, another image type) and nibabel's own exceptions for a header
    nibabel refuses.
    """
    return _read_header(path)[0]


def _read_header(path: Path) -> tuple[Nifti1Header, int | None]:
    """:func:`read_nifti_header` and, for ``.nii.gz``, the gzip trailer (read while the file is open)."""
    name = path.name
    if not (name.endswith(".nii") or name.endswith(".nii.gz")):
        raise NotFastReadable(f"{name} does not end in .nii or .nii.gz")
    with open(path, "rb") as raw:
        if name.endswith(".gz"):
            with gzip.GzipFile(fileobj=raw, mode="rb") as stream:
                header = _header_from(stream)
            return header, _gzip_trailer(raw)
        return _header_from(raw), None


def _header_from(stream: BinaryIO) -> Nifti1Header:
    """The header read from the start of the decompressed ``stream``; see :func:`read_nifti_header`."""
    import nibabel as nib
    from nibabel.cifti2.cifti2 import Cifti2Header

    try:
        sniff = stream.read(_SNIFF)
    except (OSError, EOFError, zlib.error) as error:  # nibabel.load cannot tell the type either
        raise NotFastReadable(str(error)) from error
    klass: type[Nifti1Header]
    if sniff[344:348] in _NIFTI1_MAGIC or nib.Nifti1Header.may_contain_header(sniff):
        klass = nib.Nifti1Header
    elif nib.Nifti2Header.may_contain_header(sniff) and not Cifti2Header.may_contain_header(sniff):
        klass = nib.Nifti2Header
    else:
        raise NotFastReadable("not a NIfTI-1 or NIfTI-2 header")
    size = klass.sizeof_hdr
    if len(sniff) < size + 4 or sniff[size] == 0:  # no header extensions: the sniff holds it all
        header = klass.from_fileobj(io.BytesIO(sniff), check=False)
    else:
        stream.seek(0)
        header = klass.from_fileobj(stream, check=False)
    if not _passes_header_checks(header):
        header.check_fix()  # nibabel's checks: they fix, log or raise as in nibabel.load
    header.get_slope_inter()  # what nibabel.load computes too (ArrayProxy, affine); either may raise
    header.get_best_affine()
    return header


def _header_shape(path: Path) -> tuple[tuple[int, ...], int, int | None]:
    """The image shape, the size in bytes the file must have (data offset + data), the gzip trailer if read."""
    try:
        header, trailer = _read_header(path)
    except Exception:  # anything unusual or wrong: nibabel.load decides and words the problem
        return (*_loaded_shape(path), None)
    shape = tuple(int(n) for n in header.get_data_shape())
    dtype = np.dtype(header.get_data_dtype())
    return shape, int(header.get_data_offset()) + int(np.prod(shape)) * dtype.itemsize, trailer


def _loaded_shape(path: Path) -> tuple[tuple[int, ...], int]:
    """As :func:`_header_shape`, through ``nibabel.load`` (raises nibabel's exceptions for bad files)."""
    import nibabel as nib

    image = nib.load(str(path))
    if not isinstance(image, (nib.Nifti1Image, nib.Nifti2Image)):
        raise nib.filebasedimages.ImageFileError(f"{type(image).__name__}, not NIfTI")
    shape = tuple(int(n) for n in image.shape)
    proxy = image.dataobj  # an ArrayProxy: the data offset and dtype as read from the header
    return shape, int(proxy.offset) + int(np.prod(shape)) * proxy.dtype.itemsize


def nifti_shape(path: Path) -> tuple[tuple[int, ...] | None, list[Problem]]:
    """The image shape from the header, and the problems of the file (empty, unreadable, truncated)."""
    size, message = _size_or_message(path)
    if message:
        return None, [Problem(str(path), message)]
    try:
        shape, expected, trailer = _header_shape(path)
    except Exception as error:  # nibabel raises many types for bad files; all mean "unreadable"
        reason = one_line(f"{type(error).__name__}: {error}")
        return None, [
            Problem(
                str(path),
                f"cannot be read as NIfTI ({reason}); re-export it as .nii.gz (e.g. dcm2niix) or re-download it",
            )
        ]
    message = _truncation_message(path, expected, size, trailer)
    return shape, ([Problem(str(path), message)] if message else [])


def check_t1w(path: Path) -> list[Problem]:
    """A readable single-volume 3D NIfTI."""
    shape, problems = nifti_shape(path)
    if shape is not None and not (len(shape) == 3 or (len(shape) == 4 and shape[3] == 1)):
        problems.append(Problem(str(path), f"T1w must be one 3D volume but has shape {shape}; keep a single volume"))
    return problems


def _numbers(path: Path, what: str) -> tuple[list[list[float]] | None, list[Problem]]:
    """Rows of numbers from a whitespace-separated text file."""
    message = _missing_file_message(path)
    if message:
        return None, [Problem(str(path), message)]
    try:
        lines = [line.split() for line in path.read_text().splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError) as error:
        return None, [
            Problem(str(path), f"cannot be read ({one_line(str(error))}); regenerate the {what} with the NIfTI")
        ]
    rows = []
    for number, line in enumerate(lines, start=1):
        try:
            rows.append([float(token) for token in line])
        except ValueError:
            bad = next(t for t in line if not _is_float(t))
            return None, [
                Problem(str(path), f"is not numeric (line {number} has {bad!r}); the {what} must hold numbers only")
            ]
    if not rows:
        return None, [Problem(str(path), f"holds no values; regenerate the {what} with the NIfTI")]
    if not all(math.isfinite(value) for row in rows for value in row):
        return None, [Problem(str(path), f"holds NaN or Inf; regenerate the {what} with the NIfTI")]
    return rows, []


def _is_float(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def read_bval(path: Path) -> tuple[np.ndarray | None, list[Problem]]:
    """The b-values (one row; values on several lines are accepted) and the file's problems."""
    rows, problems = _numbers(path, ".bval")
    if rows is None:
        return None, problems
    bvals = np.asarray([value for row in rows for value in row])
    if (bvals < 0).any():
        return None, [Problem(str(path), "has negative b-values; b-values must be >= 0 (s/mm^2)")]
    return bvals, []


def read_bvec(path: Path) -> tuple[np.ndarray | None, list[Problem]]:
    """The gradient directions as a (3, N) array and the file's problems."""
    rows, problems = _numbers(path, ".bvec")
    if rows is None:
        return None, problems
    lengths = {len(row) for row in rows}
    if len(lengths) > 1:
        return None, [
            Problem(
                str(path),
                f"rows have different lengths ({', '.join(str(len(r)) for r in rows)}); it must be 3 rows (x, y, z) of one value per volume",
            )
        ]
    bvecs = np.asarray(rows)
    if bvecs.shape[0] != 3:
        if bvecs.shape[1] == 3:
            fix = f"has {bvecs.shape[0]} rows of 3 values (transposed); BIDS wants 3 rows (x, y, z) of {bvecs.shape[0]} values: transpose it"
        else:
            fix = f"has {bvecs.shape[0]} rows of {bvecs.shape[1]} values; it must be 3 rows (x, y, z) of one value per volume"
        return None, [Problem(str(path), fix)]
    return bvecs, []


def _gradient_problems(bvals: np.ndarray, bvecs: np.ndarray, bvec_path: Path) -> list[Problem]:
    problems = []
    weighted = bvals > B0_MAX
    norms = np.linalg.norm(bvecs, axis=0)
    zero = weighted & (norms == 0)
    if zero.any():
        volumes = ", ".join(str(i) for i in np.flatnonzero(zero)[:5])
        problems.append(
            Problem(
                str(bvec_path),
                f"{int(zero.sum())} volume(s) with b > {B0_MAX:g} have an all-zero gradient direction (volumes {volumes}...); fix the .bvec or the .bval",
            )
        )
    off = weighted & (norms > 0) & (np.abs(norms - 1) > UNIT_TOLERANCE)
    if off.any():
        first = int(np.flatnonzero(off)[0])
        problems.append(
            Problem(
                str(bvec_path),
                f"{int(off.sum())} gradient direction(s) with b > {B0_MAX:g} are not unit length (e.g. volume {first}: |g| = {norms[first]:.3f}); normalise them or regenerate the .bvec",
            )
        )
    return problems


def check_dwi(nii: Path, bval: Path, bvec: Path) -> list[Problem]:
    """A readable 4D NIfTI with a matching, valid gradient table; every problem is reported."""
    shape, problems = nifti_shape(nii)
    volumes = None
    if shape is not None:
        if len(shape) != 4:
            problems.append(
                Problem(
                    str(nii),
                    f"DWI must be 4D (x, y, z, volumes) but has shape {shape}; give the whole diffusion series",
                )
            )
        else:
            volumes = shape[3]
    bvals, bval_problems = read_bval(bval)
    bvecs, bvec_problems = read_bvec(bvec)
    problems += bval_problems + bvec_problems
    if volumes is not None and bvals is not None and len(bvals) != volumes:
        problems.append(
            Problem(
                str(bval),
                f"has {len(bvals)} b-values but {nii.name} has {volumes} volumes; regenerate the .bval with the NIfTI (one value per volume)",
            )
        )
    if volumes is not None and bvecs is not None and bvecs.shape[1] != volumes:
        problems.append(
            Problem(
                str(bvec),
                f"has {bvecs.shape[1]} directions but {nii.name} has {volumes} volumes; regenerate the .bvec with the NIfTI (one column per volume)",
            )
        )
    if volumes is None and bvals is not None and bvecs is not None and len(bvals) != bvecs.shape[1]:
        problems.append(
            Problem(
                str(bvec),
                f"has {bvecs.shape[1]} directions but {bval.name} has {len(bvals)} b-values; regenerate both with the NIfTI",
            )
        )
    if bvals is not None and bvecs is not None and len(bvals) == bvecs.shape[1]:
        problems += _gradient_problems(bvals, bvecs, bvec)
    if bvals is not None and not (bvals <= B0_MAX).any():
        problems.append(
            Problem(
                str(bval),
                f"has no b=0 volume (no b-value <= {B0_MAX:g}); tensor fitting needs one: use a series that includes b=0 volumes",
            )
        )
    return problems


def check_json(path: Path) -> list[Problem]:
    """A JSON sidecar that holds one JSON object (its keys are the image's metadata)."""
    message = _missing_file_message(path)
    if message:
        return [Problem(str(path), message)]
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        return [
            Problem(
                str(path),
                f"is not valid JSON ({one_line(str(error))}); fix the sidecar or regenerate it (e.g. dcm2niix)",
            )
        ]
    if not isinstance(data, dict):
        return [
            Problem(
                str(path), f'holds a JSON {type(data).__name__}, not an object; a sidecar must be {{"Key": value, ...}}'
            )
        ]
    return []
