#!/usr/bin/env bash
# A Cloud Scheduler job that launches the Flex Template every day at 02:30 UTC.
# Cloud Scheduler cannot compute "yesterday", so this job processes the day it
# runs on minus nothing: point input_template at a path your exporter fills by
# the scheduled time, or prefer the Airflow DAG (deploy/airflow_dag.py), which
# passes {{ ds }}. Set the variables below first.
set -euo pipefail
: "${PROJECT:?}" "${REGION:?}" "${BUCKET:?}" "${SCHEDULER_SA:?}" "${TEMPLATE:=gs://$BUCKET/templates/retry-lineage.json}"

gcloud scheduler jobs create http retry-lineage-daily \
  --project "$PROJECT" --location "$REGION" \
  --schedule "30 2 * * *" --time-zone "Etc/UTC" \
  --uri "https://dataflow.googleapis.com/v1b3/projects/$PROJECT/locations/$REGION/flexTemplates:launch" \
  --http-method POST \
  --oauth-service-account-email "$SCHEDULER_SA" \
  --headers "Content-Type=application/json" \
  --message-body "{
    \"launchParameter\": {
      \"jobName\": \"retry-lineage-daily\",
      \"containerSpecGcsPath\": \"$TEMPLATE\",
      \"parameters\": {
        \"input\": \"gs://$BUCKET/canvas/latest/*.jsonl.gz\",
        \"output\": \"gs://$BUCKET/retry-lineage\",
        \"hmac_key_file\": \"gs://$BUCKET/secrets/hmac.key\"
      }
    }
  }"
