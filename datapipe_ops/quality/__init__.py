"""Data-quality metrics of DL0 to DL3 products (``datapipe quality``, docs/quality.md).

:func:`~datapipe_ops.quality.stage.quality` measures one product
(:mod:`~datapipe_ops.quality.compute`), judges every metric against the thresholds of
:class:`~datapipe_ops.quality.config.QualityConfig`, writes ``<product>.quality.json`` and
records the metrics and the product's flag in the catalog; :mod:`~datapipe_ops.quality.trend`
reads a metric back over time.
"""
