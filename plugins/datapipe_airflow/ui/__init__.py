"""The DataPipe view in the Airflow web UI: campaigns, products with lineage, quality flags per
night with their trend, and the reports, read from the product catalog.

``datapipe_airflow.ui.access``  every request's user, checked through Airflow's auth manager
``datapipe_airflow.ui.queries`` what the pages show, read from the catalog (no Airflow)
``datapipe_airflow.ui.app``     the FastAPI app the API server mounts under ``/datapipe``

The Airflow plugin that mounts the app and adds the navigation entry:
``plugins/datapipe_view.py``.
"""
