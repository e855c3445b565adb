"""``GET /metrics``: Prometheus text format (``dalston.metrics``).

Access: it passes the one authentication hook like every route (Prometheus sends the key
with ``authorization: {credentials: …}`` in its scrape config), and it holds no tenant's
data: no label carries a tenant, a job id or a URL, only families, statuses, stages,
engines, queues and outcomes.
"""

from __future__ import annotations

from flask import Blueprint, Response

from dalston.api import services
from dalston.metrics import exposition
from dalston.pipeline.stages import ALL_QUEUES

bp = Blueprint("metrics", __name__)


@bp.get("/metrics")
def metrics():
    s = services()
    scrape = exposition.ScrapeCollector(s.settings.broker_url, ALL_QUEUES, s.relay.status)
    body, content_type = exposition.render(s.settings.metrics_dir, scrape)
    return Response(body, content_type=content_type)
