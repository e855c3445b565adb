"""What a stage table needs from the repository, and what is missing.

``missing(stages, root)`` lists, one line each, every piece a stage of ``stages`` lacks in
the repository at ``root``: its stage module, its Celery task, its worker entry point, its
compose service (with a GPU reservation when the stage wants a GPU), its Kubernetes
Deployment (with a GPU request likewise) and its KEDA ScaledObject (the ``redis`` scaler
on the Redis list named after its queue, scaling to zero when the stage wants a GPU).
The deployment consistency test runs it on the real stage table (it must find nothing),
and the throw-away-stage test on a table with one more stage (it must name exactly what
that stage lacks).
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import yaml

import dalston.tasks  # noqa: F401 (registers the stage tasks with the Celery app)
import workers
from dalston.celery_app import app
from dalston.pipeline.stages import StageSpec

ROOT = Path(__file__).resolve().parents[1]
#: ``python -m workers.<name>`` anywhere in a command.
WORKER_MODULE = re.compile(r"^workers\.([A-Za-z_][A-Za-z0-9_]*)$")


def argv(command) -> list[str]:
    """A compose/k8s ``command`` (string or list) as an argv list."""
    if command is None:
        return []
    if isinstance(command, str):
        return shlex.split(command)
    return [str(part) for part in command]


def worker_module(args: list[str]) -> str | None:
    """The entry point in ``python -m workers.<name>``, or None if ``args`` is not that."""
    for i, part in enumerate(args[:-1]):
        if part == "-m":
            match = WORKER_MODULE.match(args[i + 1])
            if match and Path(args[0]).name.startswith("python"):
                return match.group(1)
    return None


def reserves_gpu(service: dict) -> bool:
    """A compose service reserves an NVIDIA GPU."""
    devices = (
        ((service.get("deploy") or {}).get("resources") or {}).get("reservations") or {}
    ).get("devices") or []
    for device in devices:
        count = device.get("count", 1)
        if (
            device.get("driver") == "nvidia"
            and "gpu" in (device.get("capabilities") or [])
            and (count == "all" or int(count) != 0)
        ):
            return True
    return bool(service.get("gpus"))


def compose_services(root: Path = ROOT) -> dict:
    return yaml.safe_load((root / "compose.yaml").read_text()).get("services") or {}


def k8s_documents(root: Path = ROOT) -> list[dict]:
    """Every manifest in ``deploy/k8s`` (not the kustomization itself)."""
    docs = []
    for path in sorted((root / "deploy" / "k8s").glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        docs.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
    return docs


def redis_list_scalers(root: Path = ROOT) -> dict[str, list[dict]]:
    """Redis list name → the ScaledObjects with a ``redis`` trigger on that list."""
    found: dict[str, list[dict]] = {}
    for doc in k8s_documents(root):
        if doc.get("kind") != "ScaledObject":
            continue
        for trigger in doc["spec"].get("triggers") or []:
            if trigger.get("type") == "redis":
                found.setdefault(trigger["metadata"].get("listName"), []).append(doc)
    return found


def k8s_worker_containers(root: Path = ROOT) -> dict[str, list[tuple[str, dict]]]:
    """Entry point name → ``[(Deployment name, container)]`` running it."""
    found: dict[str, list[tuple[str, dict]]] = {}
    for doc in k8s_documents(root):
        if doc.get("kind") != "Deployment":
            continue
        for container in doc["spec"]["template"]["spec"]["containers"]:
            module = worker_module(argv(container.get("command")))
            if module:
                found.setdefault(module, []).append((doc["metadata"]["name"], container))
    return found


def missing(stages: tuple[StageSpec, ...], root: Path = ROOT) -> list[str]:
    """Every piece a stage in ``stages`` lacks at ``root``, one line each (empty: complete)."""
    problems = []
    entry_points = workers.entry_points(root / "workers")
    services = compose_services(root)
    deployments = k8s_worker_containers(root)
    scalers = redis_list_scalers(root)
    for spec in stages:
        name = spec.name
        if not (root / "dalston" / "stages" / f"{name}.py").is_file():
            problems.append(f"{name}: no stage module dalston/stages/{name}.py")
        if spec.task_name not in app.tasks:
            problems.append(f"{name}: no Celery task {spec.task_name} in dalston/tasks.py")
        if entry_points.get(name) != spec.queue:
            problems.append(f"{name}: no entry point workers/{name}.py with QUEUE = {name!r}")
        service = services.get(f"worker-{name}")
        if service is None or worker_module(argv(service.get("command"))) != name:
            problems.append(
                f"{name}: no compose service worker-{name} running python -m workers.{name}"
            )
        elif spec.gpu != reserves_gpu(service):
            problems.append(
                f"{name}: compose service worker-{name} "
                + ("reserves no GPU" if spec.gpu else "reserves a GPU it does not need")
            )
        running = deployments.get(name, [])
        if not running:
            problems.append(f"{name}: no Kubernetes Deployment running python -m workers.{name}")
        for deployment, container in running:
            limits = (container.get("resources") or {}).get("limits") or {}
            if spec.gpu and str(limits.get("nvidia.com/gpu")) != "1":
                problems.append(
                    f"{name}: Kubernetes Deployment {deployment} does not request nvidia.com/gpu"
                )
        targets = {d["spec"]["scaleTargetRef"]["name"] for d in scalers.get(spec.queue, [])}
        if not targets & {deployment for deployment, _ in running}:
            problems.append(
                f"{name}: no KEDA ScaledObject scaling its Deployment on the Redis list {name}"
            )
        elif spec.gpu and any(d["spec"].get("minReplicaCount", 1) != 0 for d in scalers[name]):
            problems.append(f"{name}: its KEDA ScaledObject does not scale the GPU stage to zero")
    return problems
