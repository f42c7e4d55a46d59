"""Airflow DAG: one Flex Template launch per day, for the ingest date ``{{ ds }}``.

Copy to your DAGs folder and set the Airflow Variables named in CONFIG. The
configuration is plain data at the top so that it can be checked (and is, by
tests/test_deploy.py) without Airflow installed.
"""

from __future__ import annotations

import datetime as dt

CONFIG = {
    "dag_id": "retry_lineage_daily",
    "schedule": "30 2 * * *",
    "start_date": dt.datetime(2024, 7, 28),
    "project": "{{ var.value.retry_lineage_project }}",
    "region": "{{ var.value.retry_lineage_region }}",
    "template": "gs://{{ var.value.retry_lineage_bucket }}/templates/retry-lineage.json",
    "parameters": {
        "date": "{{ ds }}",
        "input_template": "gs://{{ var.value.retry_lineage_bucket }}/canvas/{date}/*.jsonl.gz",
        "output": "gs://{{ var.value.retry_lineage_bucket }}/retry-lineage",
        "hmac_key_file": "gs://{{ var.value.retry_lineage_bucket }}/secrets/hmac.key",
        "max_dead_letter_ratio": "0.01",
    },
    # The job publishes OUTPUT/_runs/ingest_date=DS.json when it succeeds.
    "summary_object": "retry-lineage/_runs/ingest_date={{ ds }}.json",
}


def build_dag():
    """The DAG; imports Airflow only here, so CONFIG can be read without it."""
    from airflow import DAG
    from airflow.providers.google.cloud.operators.dataflow import DataflowStartFlexTemplateOperator
    from airflow.providers.google.cloud.sensors.gcs import GCSObjectExistenceSensor

    with DAG(
        CONFIG["dag_id"],
        schedule=CONFIG["schedule"],
        start_date=CONFIG["start_date"],
        catchup=True,
        max_active_runs=1,
    ) as dag:
        # max_active_runs=1 and catchup: days run in order, since day D reads the
        # lineage that earlier days published.
        launch = DataflowStartFlexTemplateOperator(
            task_id="launch",
            project_id=CONFIG["project"],
            location=CONFIG["region"],
            wait_until_finished=True,
            body={
                "launchParameter": {
                    "jobName": "retry-lineage-{{ ds_nodash }}",
                    "containerSpecGcsPath": CONFIG["template"],
                    "parameters": CONFIG["parameters"],
                }
            },
        )
        summary_published = GCSObjectExistenceSensor(
            task_id="summary_published",
            bucket="{{ var.value.retry_lineage_bucket }}",
            object=CONFIG["summary_object"],
        )
        launch >> summary_published
    return dag


if __name__ != "__main__":
    try:
        dag = build_dag()
    except ImportError:  # read outside Airflow (tests, linters)
        dag = None
