"""Serves the canary worker on $AUTOPILOT_WORKER_ADDR."""

from canary_worker import worker

if __name__ == "__main__":
    worker().serve_from_env()
