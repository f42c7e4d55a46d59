"""Batch pipeline (``retry-lineage run``): Canvas Live Events files -> retry lineage Parquet tables.

The job is :mod:`pipelines.retry_lineage.pipeline` (``build``, ``run``); its
options are :mod:`pipelines.retry_lineage.options`. Importing this package
loads no Beam, so that ``python -m pipelines.retry_lineage`` sets up logging
(and its filter of Beam's import-time notices) before Beam is imported, as the
``retry-lineage`` console script does; ``build``, ``run``, ``run_once`` and
``RetryLineageOptions`` are loaded from there when first used.
"""
from __future__ import annotations

_LAZY = {"build": "pipeline", "run": "pipeline", "run_once": "pipeline", "RetryLineageOptions": "options"}


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
