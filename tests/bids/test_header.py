"""read_nifti_header: the header nibabel.load would give, from the file's first bytes; bad files are left to nibabel.load."""

import gzip
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from neuropeft.bids import checks
from neuropeft.bids.checks import NotFastReadable, nifti_shape, read_nifti_header

IMAGE_CLASSES = {"nifti1": nib.Nifti1Image, "nifti2": nib.Nifti2Image}


def save(path: Path, kind: str = "nifti1", shape: tuple[int, ...] = (4, 5, 6, 7), extension: bool = False) -> Path:
    """A small int16 image with a scaling and an oblique affine (NIfTI-1 or -2, optionally with a header extension)."""
    affine = np.array([[0, -2.0, 0, 10], [1.5, 0, 0.1, -20], [0, 0, 3, 5], [0, 0, 0, 1]])
    image = IMAGE_CLASSES[kind](np.arange(np.prod(shape), dtype=np.int16).reshape(shape), affine)
    image.header.set_slope_inter(2.0, -1.0)
    image.header.set_xyzt_units("mm", "sec")
    if extension:
        image.header.extensions.append(nib.nifti1.Nifti1Extension("comment", b"x" * 1500))
    nib.save(image, str(path))
    return path


def by_nibabel_load(path: Path) -> tuple[tuple[int, ...] | None, list[checks.Problem]]:
    """nifti_shape as it was: every file through nibabel.load."""
    original = checks._read_header

    def refuse(path: Path) -> None:
        raise NotFastReadable("test: use nibabel.load")

    checks._read_header = refuse  # type: ignore[assignment]
    try:
        return nifti_shape(path)
    finally:
        checks._read_header = original


@pytest.mark.parametrize("kind", ["nifti1", "nifti2"])
@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
@pytest.mark.parametrize("extension", [False, True])
def test_header_agrees_with_nibabel_load(tmp_path: Path, kind: str, suffix: str, extension: bool) -> None:
    path = save(tmp_path / f"image{suffix}", kind, extension=extension)
    header, image = read_nifti_header(path), nib.load(str(path))
    assert type(header) is type(image.header)
    assert header.get_data_shape() == image.shape == (4, 5, 6, 7)
    assert header.get_data_dtype() == image.dataobj.dtype
    assert header.get_data_offset() == image.dataobj.offset
    assert header.get_slope_inter() == (image.dataobj.slope, image.dataobj.inter) == (2.0, -1.0)
    consumed = header.copy()  # the image's header has the offset and scaling reset (they went to image.dataobj)
    consumed.set_data_offset(0)
    consumed.set_slope_inter(None, None)
    assert consumed.binaryblock == image.header.binaryblock
    assert np.allclose(header.get_best_affine(), image.affine)
    assert [e.get_content() for e in header.extensions] == [e.get_content() for e in image.header.extensions]
    if extension:
        assert header.get_data_offset() > 1024  # the extension reaches past the first kilobyte read to sniff
    assert nifti_shape(path) == by_nibabel_load(path) == ((4, 5, 6, 7), [])


def test_byte_swapped_header(tmp_path: Path) -> None:
    header = nib.Nifti1Header().as_byteswapped(">")
    header.set_data_dtype(np.float32)
    path = tmp_path / "big_endian.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((3, 4, 5), np.float32), np.eye(4), header), str(path))
    header = read_nifti_header(path)
    assert header.endianness == ">" == nib.load(str(path)).header.endianness
    assert nifti_shape(path) == by_nibabel_load(path) == ((3, 4, 5), [])


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def cut(path: Path, size: int) -> Path:
    return write(path, path.read_bytes()[:size])


def header_bytes(path: Path, offset: int, value: bytes) -> Path:
    """``path`` (.nii) with ``value`` written at ``offset`` of its header."""
    data = bytearray(path.read_bytes())
    data[offset : offset + len(value)] = value
    return write(path, bytes(data))


BROKEN = {
    "gzip cut inside the header": lambda p: cut(save(p / "a.nii.gz"), 100),
    "gzip cut inside the data": lambda p: cut(save(p / "a.nii.gz"), 400),
    ".nii cut inside the header": lambda p: cut(save(p / "a.nii"), 200),
    ".nii cut inside the data": lambda p: cut(save(p / "a.nii"), 600),
    "not gzip but named .nii.gz": lambda p: write(p / "a.nii.gz", save(p / "b.nii").read_bytes()),
    "text": lambda p: write(p / "a.nii", b"not an image\n" * 100),
    "bad magic": lambda p: header_bytes(save(p / "a.nii"), 344, b"xyz\0"),
    "pair magic in a single file (accepted)": lambda p: header_bytes(save(p / "a.nii"), 344, b"ni1\0"),
    "unknown datatype": lambda p: header_bytes(save(p / "a.nii"), 70, np.int16(1234).tobytes()),
    "vox_offset too low": lambda p: header_bytes(save(p / "a.nii"), 108, np.float32(100).tobytes()),
    "negative pixdim (fixed)": lambda p: header_bytes(save(p / "a.nii"), 80, np.float32(-2).tobytes()),
    "bad qform code (fixed)": lambda p: header_bytes(save(p / "a.nii"), 252, np.int16(99).tobytes()),
    "nifti2 bad magic": lambda p: header_bytes(save(p / "a.nii", "nifti2"), 4, b"xyz\0"),
    "cifti2 intent": lambda p: header_bytes(save(p / "a.nii", "nifti2"), 504, np.int32(3001).tobytes()),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_broken_files_give_the_problems_nibabel_load_gives(tmp_path: Path, case: str) -> None:
    path = BROKEN[case](tmp_path)
    shape, problems = nifti_shape(path)
    assert (shape, problems) == by_nibabel_load(path)
    if "fixed" in case or "accepted" in case:
        assert (shape, problems) == ((4, 5, 6, 7), [])
    else:
        assert len(problems) == 1 and problems[0].path_or_subject == str(path)
        assert "\n" not in problems[0].message


@pytest.mark.parametrize("case", ["gzip cut inside the header", ".nii cut inside the header", "text"])
def test_unreadable_header_is_refused(tmp_path: Path, case: str) -> None:
    path = BROKEN[case](tmp_path)
    with pytest.raises(NotFastReadable):
        read_nifti_header(path)
    (problem,) = nifti_shape(path)[1]
    assert problem.path_or_subject == str(path) and problem.message.startswith("cannot be read as NIfTI (")


def test_refused_header_raises_nibabels_error(tmp_path: Path) -> None:
    path = BROKEN["unknown datatype"](tmp_path)
    with pytest.raises(nib.spatialimages.HeaderDataError, match="data code 1234 not recognized"):
        read_nifti_header(path)
    assert "data code 1234 not recognized" in nifti_shape(path)[1][0].message


def test_other_names_are_left_to_nibabel_load(tmp_path: Path) -> None:
    path = save(tmp_path / "image.nii")
    other = tmp_path / "image.NII"
    other.write_bytes(path.read_bytes())
    with pytest.raises(NotFastReadable):
        read_nifti_header(other)
    with pytest.raises(NotFastReadable):
        read_nifti_header(tmp_path / "image.img")


def test_multi_member_gzip_header(tmp_path: Path) -> None:
    plain = save(tmp_path / "image.nii").read_bytes()
    path = tmp_path / "two_members.nii.gz"
    path.write_bytes(gzip.compress(plain[:200]) + gzip.compress(plain[200:]))
    assert read_nifti_header(path).get_data_shape() == (4, 5, 6, 7)
    assert nifti_shape(path) == ((4, 5, 6, 7), [])


@pytest.mark.parametrize("klass", [nib.Nifti1Header, nib.Nifti2Header])
def test_check_mirror_agrees_with_nibabels_checks(klass: type[nib.Nifti1Header]) -> None:
    """_passes_header_checks is True exactly when nibabel's checks report no problem (random headers)."""
    rng = np.random.default_rng(0)
    codes = sorted(int(c) for c in klass._data_type_codes.value_set("code")) + [1234]
    choices = {
        "sizeof_hdr": [klass.sizeof_hdr, 0, 348 + 540 - klass.sizeof_hdr],
        "datatype": codes,
        "bitpix": [0, 7, 8, 16, 32, 64, 128],
        "pixdim0": [1, -1, 0, 0.5, np.nan],
        "pixdim2": [2.5, 0, -1, np.nan, np.inf],
        "magic": [klass.single_magic, klass.pair_magic, b"xyz", b""],
        "vox_offset": [0, 100, 352, 353, 368, 544, 1040] + ([np.nan] if klass is nib.Nifti1Header else []),
        "qform_code": [0, 1, 2, 3, 4, 5, 6, 99, -1],
        "sform_code": [0, 1, 4, 7],
        "eol_check": [(13, 10, 26, 10), (0, 0, 0, 0), (1, 2, 3, 4)],
    }
    runner = nib.batteryrunners.BatteryRunner(klass._get_checks())
    outcomes = []
    for _ in range(1000):
        header = klass()
        header.set_data_dtype(np.int16)
        header.set_data_offset(klass.single_vox_offset)
        for field in rng.choice(list(choices), size=rng.integers(0, 4), replace=False):
            value = choices[field][rng.integers(len(choices[field]))]
            if field.startswith("pixdim"):
                header["pixdim"][int(field[-1])] = value
            elif field == "bitpix" and rng.random() < 0.5:  # often the matching bitpix of the datatype
                dtype = klass._data_type_codes.dtype.get(int(header["datatype"]))
                header["bitpix"] = dtype.itemsize * 8 if dtype is not None else value
            elif field == "eol_check" and klass is nib.Nifti1Header:
                continue
            else:
                header[field] = value
        clean = all(report.problem_level == 0 for report in runner.check_only(header))
        assert checks._passes_header_checks(header) == clean, header
        outcomes.append(clean)
    assert 100 < sum(outcomes) < 900  # both outcomes well represented


def test_valid_files_are_read_without_nibabel_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    paths = [save(tmp_path / "a.nii.gz"), save(tmp_path / "b.nii", "nifti2", extension=True)]
    (tmp_path / "link.nii.gz").symlink_to(paths[0])

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("nibabel.load called for a valid file")

    monkeypatch.setattr(nib, "load", refuse)
    for path in [*paths, tmp_path / "link.nii.gz"]:
        assert nifti_shape(path) == ((4, 5, 6, 7), [])


def test_missing_empty_and_dangling_files(tmp_path: Path) -> None:
    (tmp_path / "empty.nii.gz").write_bytes(b"")
    (tmp_path / "dangling.nii.gz").symlink_to(tmp_path / "absent.nii.gz")
    (tmp_path / "loop.nii").symlink_to(tmp_path / "loop.nii")
    messages = {
        name: nifti_shape(tmp_path / name)[1][0].message
        for name in ("empty.nii.gz", "dangling.nii.gz", "loop.nii", "absent.nii", "absent.nii/x.nii")
    }
    assert messages["empty.nii.gz"].startswith("is empty (0 bytes)")
    assert messages["dangling.nii.gz"].startswith("is a broken symlink")
    assert messages["loop.nii"].startswith("is a broken symlink")
    assert messages["absent.nii"] == messages["absent.nii/x.nii"] == "does not exist; add it or fix the path"


@pytest.mark.parametrize("magic", [b"n+1\0", b"ni1\0", b"n+1x", b"n+2\0", b"\0\0\0\0", b"ni1 ", b"N+1\0"])
@pytest.mark.parametrize("length", [340, 347, 348, 352, 1024])
def test_nifti1_magic_shortcut_agrees_with_nibabel(magic: bytes, length: int) -> None:
    sniff = (bytes(344) + magic + bytes(1024))[:length]
    if sniff[344:348] in checks._NIFTI1_MAGIC:
        assert nib.Nifti1Header.may_contain_header(sniff)
    assert (sniff[344:348] in checks._NIFTI1_MAGIC) == (magic in (b"n+1\0", b"ni1\0") and length >= 348)
