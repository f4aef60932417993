"""The canary release operator's worker in Python: the same five phases as the Rust worker.

`phases` holds the handlers; `analysis` the pure decisions; `release` the objects; `revision`
the pod template hash (identical to the Rust worker's).
"""

from autopilot_sdk import Worker

from canary_worker import phases
from canary_worker.model import Info, Spec


def worker() -> Worker[Spec, Info]:
    """The worker serving every phase of CanaryDeployment."""
    return (
        Worker("canary-worker-python", Spec, Info, version="0.1.0")
        .phase("Initializing", phases.initializing)
        .phase("Waiting", phases.waiting)
        .phase("Evaluating", phases.evaluating)
        .phase("Promoting", phases.promoting)
        .phase("RollingBack", phases.rolling_back)
    )
