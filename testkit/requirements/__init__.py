"""Requirements traceability: the catalogue, the pytest marks that link tests to it, and the
verification matrix.

``testkit.requirements.catalogue``
    reads ``docs/requirements/requirements.yaml`` and checks the marks against it.
``testkit.requirements.plugin``
    the pytest plugin (loaded by ``tests/conftest.py``): the collection-time check, and the
    outcomes of the marked tests recorded in ``build/test-results/requirements.json``.
``testkit.requirements.matrix``
    renders the matrix; ``python -m testkit.requirements matrix`` writes
    ``docs/requirements/matrix.md``.
"""
