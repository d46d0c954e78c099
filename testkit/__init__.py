"""Code the tests and the benchmarks share; never part of the shipped ``datapipe_ops`` package.

``testkit.ctapipe_reference``
    ctapipe as the reference implementation of the DL0→DL1 chain.
``testkit.postgres``
    Throw-away PostgreSQL schemas for tests of anything that uses the catalog.
``testkit.requirements``
    The requirements catalogue, the pytest plugin checking the ``requirement`` marks, and the
    verification matrix (``python -m testkit.requirements matrix``).

It lives at the top of the repository and is importable wherever the development environment
is installed (``make env`` installs the project in editable mode, which puts the repository on
``sys.path``): from ``tests/`` (pytest's ``--import-mode=importlib``), from
``benchmarks/*.py`` scripts and from the processes they start. See the developer guide.
"""
