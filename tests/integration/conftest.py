"""Distributed-mode tests use the ``cluster`` and ``s3`` fixtures of ``tests/conftest.py``.

They live there because the SDK compatibility tests (``tests/compat``) share the same
cluster: two clusters in one run would consume each other's Redis queues.
"""
