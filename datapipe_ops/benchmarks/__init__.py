"""Science benchmarks per data level, their comparison between two campaigns, and reports.

A benchmark reads the products of one level (DL0, DL1, DL2 with the models' view, IRFs, DL3),
computes :class:`~datapipe_ops.benchmarks.figures.Figure` objects (curves of numbers against an
axis) and a few headline numbers, and writes them into an output directory: the curves as a
FITS table per curve (``benchmark.fits``), a JSON summary and one PNG per figure. Given a
reference (other inputs, or another benchmark's output directory), every figure shows both
campaigns overlaid with a ratio panel and carries a verdict ("no change", "better", "worse")
against the tolerances of ``include/config/benchmarks/default.yaml``
(:mod:`datapipe_ops.benchmarks.compare`). :mod:`datapipe_ops.benchmarks.report` writes a
campaign's one-page HTML report. See ``docs/benchmarks.md``.
"""
