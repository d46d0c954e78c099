"""The Airflow plugin of the DataPipe view: the FastAPI app under ``/datapipe`` and its entry in
the UI's navigation (shown inside Airflow's page at ``/plugin/datapipe``).

The one plugin file Airflow's plugin loader imports from ``plugins/`` (the ``datapipe_airflow``
package is an ordinary package the DAGs import; ``.airflowignore`` keeps the loader out of it).
The view itself is :mod:`datapipe_airflow.ui`."""

from __future__ import annotations

from typing import ClassVar

from airflow.plugins_manager import AirflowPlugin
from datapipe_airflow.ui.app import app

#: where the API server mounts the app
URL_PREFIX = "/datapipe"


class DataPipeViewPlugin(AirflowPlugin):
    """Campaigns, products with lineage, quality flags and reports, in the Airflow UI."""

    name = "datapipe_view"
    fastapi_apps: ClassVar[list[dict]] = [
        {"app": app, "url_prefix": URL_PREFIX, "name": "DataPipe"}
    ]
    external_views: ClassVar[list[dict]] = [
        {
            "name": "DataPipe",
            "href": f"{URL_PREFIX}/",
            "destination": "nav",
            "url_route": "datapipe",
            "category": "browse",
        }
    ]
