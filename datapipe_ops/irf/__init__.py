"""Event selection, instrument response functions and sensitivity from simulated DL2 events.

The science is pyirf's: :mod:`~datapipe_ops.irf.events` reads DL2 products into pyirf event
tables and weights them, :mod:`~datapipe_ops.irf.cuts` finds and applies the cuts,
:mod:`~datapipe_ops.irf.response` computes the GADF IRF HDUs,
:mod:`~datapipe_ops.irf.interpolation` interpolates an IRF set in cos zenith, and
:mod:`~datapipe_ops.irf.stage` holds the stages (checks, products, catalog registration).
"""
