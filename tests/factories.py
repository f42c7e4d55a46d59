"""Former home of the line builders, now in ``tests/conftest.py``.

Kept only so that test files written against it before the move still import;
new tests import from ``tests.conftest``. Delete once nothing imports it.
"""
from tests.conftest import PII_METADATA, ROOT_ACCOUNT, completed, course, line, noise, retry, started

__all__ = ["PII_METADATA", "ROOT_ACCOUNT", "completed", "course", "line", "noise", "retry", "started"]
