"""SIGTERM drains: a worker process stops, and an in-flight call still gets its answer."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import grpc

from autopilot_sdk.proto import worker_pb2 as pb

WORKER = textwrap.dedent(
    """
    import threading, time
    from pydantic import BaseModel
    from autopilot_sdk import Context, Outcome, Worker

    class M(BaseModel):
        pass

    def slow(ctx: Context[M, M]) -> Outcome:
        open(ctx.name + ".started", "w").close()
        time.sleep(1)
        return Outcome.next("Done")

    Worker("slow", M, M).phase("Slow", slow).serve_from_env()
    """
)


def test_sigterm_lets_the_in_flight_call_finish(tmp_path: Path) -> None:
    socket = tmp_path / "w.sock"
    src = Path(__file__).resolve().parents[1] / "src"
    env = {**os.environ, "AUTOPILOT_WORKER_ADDR": f"unix:{socket}", "PYTHONPATH": str(src)}
    proc = subprocess.Popen([sys.executable, "-c", WORKER], cwd=tmp_path, env=env)
    try:
        with grpc.insecure_channel(f"unix:{socket}") as channel:
            grpc.channel_ready_future(channel).result(timeout=30)
            sync: grpc.UnaryUnaryMultiCallable[pb.SyncRequest, pb.SyncResponse]
            sync = channel.unary_unary(
                "/autopilot.worker.v1.WorkerService/Sync",
                request_serializer=lambda m: m.SerializeToString(),
                response_deserializer=pb.SyncResponse.FromString,
            )
            answers: list[pb.SyncResponse] = []
            request = pb.SyncRequest(phase="Slow", resource=b'{"metadata": {"name": "call"}}')
            thread = threading.Thread(target=lambda: answers.append(sync(request, timeout=30)))
            thread.start()
            started = tmp_path / "call.started"
            for _ in range(300):
                if started.exists():
                    break
                threading.Event().wait(0.1)
            assert started.exists(), "the call never reached the handler within 30 s"
            proc.send_signal(signal.SIGTERM)
            thread.join(timeout=30)
            assert [a.next_phase for a in answers] == ["Done"]
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()
