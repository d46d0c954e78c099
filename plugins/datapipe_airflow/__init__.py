"""Airflow glue for the CTAO DataPipe: the stage-task factory, hooks, triggers and sensors.

The DAGs import from here; this package imports ``datapipe_ops`` (never the other way round) and
keeps its top level light so that parsing a DAG file stays fast: every module imports what it
needs itself, and heavy provider modules (Kubernetes, Docker) are imported only when a task is
built for that backend.

``datapipe_airflow.stage``         :func:`stage_task`, the one factory of stage tasks
``datapipe_airflow.stage_config``  the backend setting and the per-kind resources (include/)
``datapipe_airflow.operators``     the three backends: local subprocess, container, Kubernetes pod
``datapipe_airflow.hooks``         BDMS (dataset + manifest) and CalibPipe (coefficients) access
``datapipe_airflow.triggers``      the asynchronous waiting, run by the triggerer
``datapipe_airflow.sensors``       thin deferrable sensors over those triggers
"""
