"""DL2 → DL3: GADF event lists with the instrument response that belongs to them.

:func:`datapipe_ops.dl3.stage.dl2_to_dl3` writes one observation's DL3 file and adds it to the
directory's ``hdu-index.fits.gz`` / ``obs-index.fits.gz`` (:mod:`datapipe_ops.dl3.index`).
"""
