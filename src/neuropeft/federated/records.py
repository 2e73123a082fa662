"""Parameters as Flower records and back, and their size on the wire."""

from __future__ import annotations

import numpy as np
from flwr.app import Array, ArrayRecord

from neuropeft.federated.site import Arrays


def to_record(arrays: Arrays) -> ArrayRecord:
    """NumPy arrays as a Flower ArrayRecord (names kept)."""
    return ArrayRecord(array_dict={k: Array(np.ascontiguousarray(v)) for k, v in arrays.items()})


def from_record(record: ArrayRecord) -> Arrays:
    """A Flower ArrayRecord as NumPy arrays by name."""
    return {k: v.numpy() for k, v in record.items()}


def record_bytes(record: ArrayRecord) -> int:
    """Bytes of a record's arrays as Flower serialises them (data, shape and type of each)."""
    return int(record.count_bytes())
