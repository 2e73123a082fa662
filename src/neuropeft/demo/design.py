"""Cohort design: who has the diagnosis, at which site, and how each site's scanner differs.

Subjects come in blocks of ``2 * n_sites``; in each block every (site, diagnosis) pair occurs
once, in a seeded random order, with the two diagnoses of a site next to each other.  So any even
number of subjects is label-balanced, whole blocks are site-balanced across labels, and a
subject's assignment does not depend on the cohort size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neuropeft.demo.settings import DemoSettings

#: stream tags keeping the random streams of assignments, sites and subjects apart
_ASSIGN, _SITE, _SUBJECT = 1, 2, 3


@dataclass(frozen=True)
class Site:
    """A scanner site: its label, intensity scale and noise factor (multiplies the noise sigma)."""

    label: str
    scale: float
    noise: float


def assignment(settings: DemoSettings, index: int) -> tuple[int, int]:
    """``(diagnosis, site index)`` of subject ``index`` (0-based)."""
    block, position = divmod(index, 2 * settings.n_sites)
    rng = np.random.default_rng([settings.seed, _ASSIGN, block])
    sites = rng.permutation(settings.n_sites)
    first = rng.integers(0, 2, settings.n_sites)
    pair, member = divmod(position, 2)
    return int(first[pair] ^ member), int(sites[pair])


def site(settings: DemoSettings, index: int) -> Site:
    """The scanner properties of site ``index`` (0-based), drawn from the seed."""
    rng = np.random.default_rng([settings.seed, _SITE, index])
    scale = float(np.exp(rng.uniform(-1, 1) * np.log1p(settings.site_scale_range)))
    noise = float(np.exp(rng.uniform(-1, 1) * np.log1p(settings.site_noise_range)))
    return Site(label=f"site{index + 1}", scale=round(scale, 4), noise=round(noise, 4))


def subject_streams(settings: DemoSettings, index: int, count: int) -> list[np.random.Generator]:
    """``count`` independent random streams for subject ``index``, from (seed, index) only."""
    sequence = np.random.SeedSequence([settings.seed, _SUBJECT, index])
    return [np.random.default_rng(child) for child in sequence.spawn(count)]
