"""The Airflow Assets the DataPipe campaigns publish and consume, defined once.

A campaign task that finishes a product family declares the asset in its ``outlets`` and puts
what a consumer needs into the asset event's ``extra`` (never paths alone: the catalog ids):

- :data:`DL1_PRODUCTS`, :data:`DL2_PRODUCTS`, :data:`DL3_PRODUCTS`: ``{"campaign", "version",
  "n_products"}`` (and ``"night"`` for observation campaigns);
- :data:`MODEL_SET`: ``{"model_set_id", "campaign"}`` — published by ``model_training``;
- :data:`IRF_SET`: ``{"irf_set_id", "campaign", "model_set_id"}`` — published by
  ``simulation_processing``'s IRF branch.

``benchmarking`` is scheduled on them; ``observation_processing`` takes the latest model set and
IRF set (from the catalog) unless a param names one.
"""

from __future__ import annotations

from airflow.sdk import Asset

GROUP = "datapipe"
#: The URIs use a private ``x-`` scheme: Airflow then leaves them as they are, instead of looking
#: the scheme up among the providers' URI normalisers (which loads the providers manager and
#: costs a DAG file that declares an outlet ~0.16 s of its parse-time budget).

DL1_PRODUCTS = Asset(name="datapipe-dl1", uri="x-datapipe://catalog/products/DL1", group=GROUP)
DL2_PRODUCTS = Asset(name="datapipe-dl2", uri="x-datapipe://catalog/products/DL2", group=GROUP)
DL3_PRODUCTS = Asset(name="datapipe-dl3", uri="x-datapipe://catalog/products/DL3", group=GROUP)
MODEL_SET = Asset(name="datapipe-model-set", uri="x-datapipe://catalog/model-sets", group=GROUP)
IRF_SET = Asset(name="datapipe-irf-set", uri="x-datapipe://catalog/irf-sets", group=GROUP)

ALL = (DL1_PRODUCTS, DL2_PRODUCTS, DL3_PRODUCTS, MODEL_SET, IRF_SET)
