"""DL0→DL1: calibration with CalibPipe coefficients, charge extraction and image cleaning.

The numba batch kernels (:func:`~datapipe_ops.calib.extraction.extract_images`,
:func:`~datapipe_ops.calib.cleaning.clean_images`) take whole chunks of events; the stage
(:func:`datapipe_ops.calib.stage.dl0_to_dl1`, command ``datapipe dl0-to-dl1``) streams a DL0
product through them and the image parameters of :mod:`datapipe_ops.image`.
"""
