"""Image parameters of cleaned camera images (Hillas, timing, leakage, concentration, morphology,
statistics), as numba kernels over chunks of events, with ctapipe 0.32's definitions.

:func:`~datapipe_ops.image.parameters.image_parameters` computes them all in one call;
:class:`~datapipe_ops.image.geometry.ImageGeometry` is the camera in the telescope frame the
kernels work on. (The ctapipe reference chain the tests and benchmarks compare with is
``testkit.ctapipe_reference``, outside the package.)
"""
