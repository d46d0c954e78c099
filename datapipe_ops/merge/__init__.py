"""Merging DL1 or DL2 products into one (``datapipe merge``, UC-130-1.8)."""
