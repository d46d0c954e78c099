"""DL1 → DL2: stereo geometry, event reading for reconstruction, the dl1-to-dl2 stage.

The DL2 layout follows ctapipe: subarray tables ``/dl2/event/subarray/<kind>/<Algorithm>``
with ``<Algorithm>_`` column prefixes, telescope-wise tables
``/dl2/event/telescope/<kind>/<Algorithm>/tel_NNN``; algorithm and kind names are in
:mod:`datapipe_ops.reco.names`.
"""
