"""Physical spectra for simulated observations: rates and energies drawn from the true flux.

Spectra are pyirf's (``pyirf.spectral``): ``CRAB_HEGRA`` (HEGRA, Aharonian et al. 2004, ApJ 614,
897: ``2.83e-11 (E/TeV)^-2.62 cm⁻² s⁻¹ TeV⁻¹``), ``CRAB_MAGIC_JHEAP2015``,
``IRFDOC_PROTON_SPECTRUM`` and ``IRFDOC_ELECTRON_SPECTRUM`` (the cosmic-ray spectra of the CTA
IRF documentation), ``PDG_ALL_PARTICLE``, or a plain power law. :class:`TabulatedSpectrum`
integrates one on a fine logarithmic grid and draws energies by inverting its cumulative
integral, so an observation throws each particle at its real rate with its real spectrum.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from astropy import units as u

from datapipe_ops.errors import ConfigError

POINT_UNIT = u.Unit("TeV-1 cm-2 s-1")
DIFFUSE_UNIT = u.Unit("TeV-1 cm-2 s-1 sr-1")
NAMED = (
    "CRAB_HEGRA",
    "CRAB_MAGIC_JHEAP2015",
    "IRFDOC_PROTON_SPECTRUM",
    "IRFDOC_ELECTRON_SPECTRUM",
    "PDG_ALL_PARTICLE",
)


def named_spectrum(name: str, source: str = "<config>") -> Callable:
    """A pyirf spectrum by its constant's name (ConfigError naming ``source`` if unknown)."""
    if name not in NAMED:
        raise ConfigError(
            f"unknown spectrum '{name}' (known: {', '.join(NAMED)}, or 'power_law')", path=source
        )
    from pyirf import spectral

    return getattr(spectral, name)


def power_law(normalization_per_tev_cm2_s: float, index: float) -> Callable:
    """A point-source power law ``N (E / TeV)^index`` [TeV⁻¹ cm⁻² s⁻¹]."""

    def spectrum(energy: u.Quantity) -> u.Quantity:
        return normalization_per_tev_cm2_s * (energy / u.TeV).to_value(u.one) ** index * POINT_UNIT

    return spectrum


@dataclass(frozen=True)
class TabulatedSpectrum:
    """A spectrum integrated on a log grid between ``e_min`` and ``e_max`` [TeV].

    ``integral`` is the flux integral [cm⁻² s⁻¹, or cm⁻² s⁻¹ sr⁻¹ for diffuse spectra].
    """

    energy_tev: np.ndarray
    cdf: np.ndarray
    integral: float
    diffuse: bool

    @classmethod
    def from_spectrum(
        cls, spectrum: Callable, e_min: float, e_max: float, n_points: int = 4001
    ) -> TabulatedSpectrum:
        """Tabulate ``spectrum`` (energy Quantity → flux Quantity) on ``[e_min, e_max]``."""
        energy = np.geomspace(e_min, e_max, n_points)
        flux = spectrum(energy * u.TeV)
        diffuse = flux.unit.is_equivalent(DIFFUSE_UNIT)
        values = flux.to_value(DIFFUSE_UNIT if diffuse else POINT_UNIT)
        # trapezoid in log E: dN = F E dlnE
        integrand = values * energy
        steps = 0.5 * (integrand[1:] + integrand[:-1]) * np.diff(np.log(energy))
        cdf = np.concatenate([[0.0], np.cumsum(steps)])
        return cls(energy, cdf / cdf[-1], float(cdf[-1]), diffuse)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` energies [TeV] distributed as the spectrum (log-linear inverse CDF)."""
        u_values = rng.random(n)
        return np.exp(np.interp(u_values, self.cdf, np.log(self.energy_tev)))

    def rate_hz(self, max_scatter_m: float, viewcone_deg: float = 0.0) -> float:
        """Showers per second thrown on a disc of ``max_scatter_m`` (times the view-cone solid
        angle for a diffuse spectrum)."""
        area_cm2 = np.pi * (max_scatter_m * 100.0) ** 2
        if not self.diffuse:
            return self.integral * area_cm2
        solid_angle = 2 * np.pi * (1 - np.cos(np.deg2rad(viewcone_deg)))
        return self.integral * area_cm2 * solid_angle
