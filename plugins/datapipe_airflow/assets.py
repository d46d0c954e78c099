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

DL1_PRODUCTS = Asset(name="datapipe-dl1", uri="datapipe://catalog/products/DL1", group=GROUP)
DL2_PRODUCTS = Asset(name="datapipe-dl2", uri="datapipe://catalog/products/DL2", group=GROUP)
DL3_PRODUCTS = Asset(name="datapipe-dl3", uri="datapipe://catalog/products/DL3", group=GROUP)
MODEL_SET = Asset(name="datapipe-model-set", uri="datapipe://catalog/model-sets", group=GROUP)
IRF_SET = Asset(name="datapipe-irf-set", uri="datapipe://catalog/irf-sets", group=GROUP)

ALL = (DL1_PRODUCTS, DL2_PRODUCTS, DL3_PRODUCTS, MODEL_SET, IRF_SET)
