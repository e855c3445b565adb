"""Adding a stage is a StageSpec plus the pieces ``tests/deploy_check.py`` names.

A throw-away stage added to the table is seen by the queues and routes, the Stage names and
the worker entry-point discovery; the consistency check names exactly what it still lacks,
and finds nothing once those pieces exist (in a copy of the repository's deployment files).
"""

from __future__ import annotations

import shutil

import yaml

import celeryconfig
import workers
from dalston.pipeline.stages import STAGES, StageSpec, stage_enum
from tests import deploy_check

THROWAWAY = StageSpec("throwaway", "solo", 1, 1.0, gpu=True)
TABLE = STAGES + (THROWAWAY,)


def test_queues_routes_and_names_see_a_new_stage():
    assert "throwaway" in [q.name for q in celeryconfig.queues_for(TABLE)]
    assert celeryconfig.routes_for(TABLE)["dalston.throwaway"] == {
        "queue": "throwaway",
        "routing_key": "throwaway",
    }
    assert stage_enum(TABLE).THROWAWAY == "throwaway"


def test_the_consistency_check_names_exactly_what_a_new_stage_lacks():
    assert deploy_check.missing(TABLE) == [
        "throwaway: no stage module dalston/stages/throwaway.py",
        "throwaway: no Celery task dalston.throwaway in dalston/tasks.py",
        "throwaway: no entry point workers/throwaway.py with QUEUE = 'throwaway'",
        "throwaway: no compose service worker-throwaway running python -m workers.throwaway",
        "throwaway: no Kubernetes Deployment running python -m workers.throwaway",
        "throwaway: no KEDA ScaledObject scaling its Deployment on the Redis list throwaway",
    ]


def test_entry_point_discovery_and_deployment_files_see_the_new_stage(tmp_path, monkeypatch):
    """With the entry point, compose service, Deployment and ScaledObject in place, only code
    is missing."""
    root = tmp_path / "repo"
    shutil.copytree(deploy_check.ROOT / "workers", root / "workers")
    shutil.copytree(deploy_check.ROOT / "deploy" / "k8s", root / "deploy" / "k8s")
    shutil.copytree(deploy_check.ROOT / "dalston" / "stages", root / "dalston" / "stages")
    (root / "workers" / "throwaway.py").write_text(
        (root / "workers" / "align.py").read_text().replace('"align"', '"throwaway"')
    )
    assert workers.entry_points(root / "workers")["throwaway"] == "throwaway"

    compose = yaml.safe_load((deploy_check.ROOT / "compose.yaml").read_text())
    service = dict(compose["services"]["worker-align"])
    service["command"] = ["python", "-m", "workers.throwaway"]
    compose["services"]["worker-throwaway"] = service
    (root / "compose.yaml").write_text(yaml.safe_dump(compose))

    docs = list(yaml.safe_load_all((root / "deploy" / "k8s" / "workers.yaml").read_text()))
    (align,) = [d for d in docs if d and d["metadata"]["name"] == "dalston-worker-align"]
    extra = yaml.safe_load(yaml.safe_dump(align).replace("align", "throwaway"))
    keda = list(yaml.safe_load_all((root / "deploy" / "k8s" / "keda.yaml").read_text()))
    (scaler,) = [d for d in keda if d["metadata"]["name"] == "dalston-worker-align"]
    scaler = yaml.safe_load(yaml.safe_dump(scaler).replace("align", "throwaway"))
    (root / "deploy" / "k8s" / "throwaway.yaml").write_text(yaml.safe_dump_all([extra, scaler]))
    (root / "dalston" / "stages" / "throwaway.py").write_text('"""throwaway stage."""\n')

    assert deploy_check.missing(TABLE, root) == [
        "throwaway: no Celery task dalston.throwaway in dalston/tasks.py",
    ]
    assert deploy_check.missing(STAGES, root) == []
