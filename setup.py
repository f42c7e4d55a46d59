"""Setuptools shim so that Dataflow's ``--setup_file ./setup.py`` can build the
worker package; all metadata lives in pyproject.toml.
"""
import setuptools

setuptools.setup()
