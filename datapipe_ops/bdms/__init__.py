"""The BDMS stand-in: dataset directories with a checksummed ``MANIFEST.json``."""
