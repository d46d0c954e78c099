"""The demo of ``make demo``: one day of operations on this machine, through Airflow.

Not part of the stage library nor of the Airflow plugins: it plays the outside systems (SimPipe,
ACADA, CalibPipe) with their stand-ins and drives the campaign DAGs; run it as
``python -m demo`` (see :mod:`demo.__main__`).
"""
