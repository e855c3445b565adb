"""Worker entry points, one per Celery queue: ``python -m workers.<queue>``.

This package imports ``dalston``; ``dalston`` never imports it.
"""
