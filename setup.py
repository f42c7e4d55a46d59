"""Setuptools shim for Dataflow's ``--setup_file ./setup.py``, which builds the worker package.

All metadata lives in pyproject.toml.
"""
import setuptools

setuptools.setup()
