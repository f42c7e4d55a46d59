"""Entry points: the batch and streaming pipelines, the report, the synthetic feed."""
