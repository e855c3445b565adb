"""The Celery app: a small standalone module configured only from ``celeryconfig.py``.

Workers import this, never Flask; the API imports it only to send signatures by name.
"""

from celery import Celery

app = Celery("dalston")
app.config_from_object("celeryconfig")
