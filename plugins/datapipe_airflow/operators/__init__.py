"""One operator per execution backend, all with the same arguments (see :mod:`.contract`).

Import the module of the backend you need (``.local``, ``.container``, ``.kubernetes``): the
Kubernetes and Docker providers are heavy and only the chosen backend's module is loaded.
"""
