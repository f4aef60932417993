"""Contexts, outcomes, metrics, errors and outputs used as plain Python, no gRPC."""

from __future__ import annotations

import math
from datetime import timedelta
from pathlib import Path

import grpc
import pytest

from autopilot_sdk import (
    DEFAULT_MAX_ATTEMPTS,
    SCHEDULER_CONDITIONS,
    Condition,
    Config,
    Context,
    InputUnavailable,
    Metric,
    MetricUnavailableError,
    Outcome,
    Sample,
    Series,
    ServeError,
    WorkerError,
    outputs,
)
from tests.conftest import Info, Spec


def test_for_test_context_is_typed_and_minimal() -> None:
    ctx: Context[Spec, Info] = Context.for_test(
        Spec(target="web"), Info, phase="Checking", labels={"team": "a"}, status_info=Info(checks=1)
    )
    assert (ctx.phase, ctx.name, ctx.namespace, ctx.generation) == (
        "Checking",
        "test",
        "default",
        1,
    )
    assert ctx.labels == {"team": "a"}
    assert ctx.resource["spec"] == {"target": "web"}
    assert ctx.resource["status"]["statusInfo"] == {"checks": 1}
    assert ctx.status_info == Info(checks=1)


def test_from_resource_rejects_a_spec_that_does_not_match() -> None:
    with pytest.raises(WorkerError) as err:
        Context.from_resource({"spec": {"failFirst": "x"}}, Spec, Info)
    assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT


def test_inputs_missing_or_unavailable() -> None:
    ctx = Context.for_test(
        Spec(), Info, objects={"pods": InputUnavailable("no CRD")}, metrics={"m": Metric.scalar(1)}
    )
    with pytest.raises(WorkerError) as err:
        ctx.objects("pods")
    assert err.value.is_retryable
    with pytest.raises(WorkerError) as err:
        ctx.objects("deployments")
    assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(WorkerError):
        ctx.metric("other")


def test_metric_values() -> None:
    assert Metric.scalar(2.5).value() == 2.5
    assert Metric.no_data_result().value() is None
    assert Metric.scalar(math.nan).is_nan()
    two = Metric.matrix([Series({"a": "1"}, (Sample(1, 1.0), Sample(2, 4.0)))])
    assert two.value() == 4.0
    with pytest.raises(WorkerError) as err:
        Metric.vector(
            [Series({"a": "1"}, (Sample(1, 1.0),)), Series({"a": "2"}, (Sample(1, 1.0),))]
        ).value()
    assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(WorkerError) as err:
        Metric.failed("prometheus unreachable").value()
    assert err.value.is_retryable


def test_a_failed_query_is_retried_a_bounded_number_of_times() -> None:
    """Prometheus down: retryable for the first calls in a row, then permanent, so that a
    naive handler does not spin forever while its canary or fault stays in place."""

    def ctx(failures: int) -> Context[Spec, Info]:
        return Context.for_test(
            Spec(target="web"),
            Info,
            metrics={"rate": Metric.failed("connection refused", query="up")},
            resource={"status": {"failures": failures}},
        )

    for failures, retryable in [(0, True), (3, True), (4, False), (9, False)]:
        with pytest.raises(MetricUnavailableError) as err:
            ctx(failures).metric("rate").value()
        assert err.value.is_retryable is retryable, failures
        assert err.value.attempt == failures + 1
        assert err.value.code == (
            grpc.StatusCode.UNAVAILABLE if retryable else grpc.StatusCode.FAILED_PRECONDITION
        )
    assert DEFAULT_MAX_ATTEMPTS == 5
    with pytest.raises(MetricUnavailableError) as err:
        ctx(4).metric("rate").value(max_attempts=10)
    assert err.value.is_retryable
    with pytest.raises(MetricUnavailableError, match="no more retries"):
        ctx(4).metrics["rate"].value()

    # The pattern the docs show: act on it instead of waiting.
    def analyzing(c: Context[Spec, Info]) -> Outcome:
        try:
            rate = c.metric("rate").value()
        except MetricUnavailableError as unavailable:
            if not unavailable.is_retryable:
                return Outcome.next("RolledBack")
            raise
        return Outcome.stay() if rate is None else Outcome.next("Promoting")

    assert analyzing(ctx(4)).next_phase == "RolledBack"
    with pytest.raises(MetricUnavailableError):
        analyzing(ctx(0))


@pytest.mark.parametrize(
    ("error", "code", "retryable"),
    [
        (WorkerError.retryable("a"), grpc.StatusCode.UNAVAILABLE, True),
        (WorkerError.permanent("b"), grpc.StatusCode.FAILED_PRECONDITION, False),
        (WorkerError.invalid("c"), grpc.StatusCode.INVALID_ARGUMENT, False),
    ],
)
def test_error_codes(error: WorkerError, code: grpc.StatusCode, retryable: bool) -> None:
    assert (error.code, error.is_retryable) == (code, retryable)


def test_outcome_takes_models_dicts_and_builders() -> None:
    outcome = (
        Outcome.stay()
        .output(outputs.config_map("a").data("k", "v"))
        .status(Info(checks=2))
        .requeue_after(timedelta(seconds=1))
    )
    assert outcome.next_phase is None
    assert outcome.outputs[0]["data"] == {"k": "v"}
    assert outcome.status_info == {"checks": 2}
    with pytest.raises(WorkerError):
        Outcome.stay().output({"kind": "ConfigMap"})


@pytest.mark.parametrize("owned", SCHEDULER_CONDITIONS)
def test_conditions_the_scheduler_owns_are_refused_where_they_are_set(owned: str) -> None:
    with pytest.raises(WorkerError) as err:
        Outcome.stay().condition("Healthy", True, "Ok").condition(owned, True, "Mine")
    assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.message.startswith(
        f"condition type {owned} is owned by the scheduler (it owns Ready, Progressing, "
        "WorkerError, InputsAvailable, MetricsAvailable, Paused, AwaitingApproval, Aborted)"
    )


def test_a_condition_needs_a_type_and_others_pass() -> None:
    with pytest.raises(WorkerError, match="a condition needs a type"):
        Outcome.stay().condition("", True, "Ok")
    outcome = Outcome.stay().condition("Healthy", True, "Ok")
    assert outcome.conditions == [Condition.of("Healthy", True, "Ok")]


def test_outputs() -> None:
    d = outputs.deployment("web").image("web:1").container_port(80).to_json()
    assert d["spec"]["template"]["metadata"]["labels"] == {"app": "web"}
    assert d["spec"]["template"]["spec"]["containers"] == [
        {"name": "web", "image": "web:1", "ports": [{"containerPort": 80, "protocol": "TCP"}]}
    ]
    canary = outputs.deployment("web-canary").template_from(d).selector_label("track", "canary")
    assert canary.to_json()["spec"]["template"]["metadata"]["labels"] == {
        "app": "web",
        "track": "canary",
    }
    with pytest.raises(WorkerError):
        outputs.deployment("bare").to_json()
    s = outputs.service("web").namespace("shop").to_json()
    assert s["metadata"] == {"name": "web", "namespace": "shop"}
    assert s["spec"] == {"selector": {"app": "web"}, "ports": []}
    vs = outputs.virtual_service("web").route(
        outputs.Destination("web", 80, subset="stable"),
        outputs.Destination("web", 20, subset="canary", port=8080),
    )
    assert vs.to_json()["spec"]["http"][0]["route"][1] == {
        "destination": {"host": "web", "subset": "canary", "port": {"number": 8080}},
        "weight": 20,
    }
    route = outputs.http_route("web").parent_service("web").rule(outputs.Backend("web-canary", 10))
    assert route.to_json()["spec"] == {
        "parentRefs": [{"group": "", "kind": "Service", "name": "web"}],
        "rules": [
            {"backendRefs": [{"group": "", "kind": "Service", "name": "web-canary", "weight": 10}]}
        ],
    }


def test_config_from_env() -> None:
    assert Config.from_env({}).address == "127.0.0.1:50051"
    config = Config.from_env(
        {
            "AUTOPILOT_WORKER_ADDR": " 0.0.0.0:9000 ",
            "AUTOPILOT_WORKER_TLS_CERT": "c.pem",
            "AUTOPILOT_WORKER_TLS_KEY": "k.pem",
            "AUTOPILOT_WORKER_MAX_MESSAGE_BYTES": "1024",
        }
    )
    assert config.address == "0.0.0.0:9000"
    assert config.tls is not None and config.tls.cert == Path("c.pem")
    assert config.max_message_bytes == 1024
    for bad in (
        {"AUTOPILOT_WORKER_TLS_CERT": "c.pem"},
        {"AUTOPILOT_WORKER_TLS_CLIENT_CA": "ca.pem"},
        {"AUTOPILOT_WORKER_MAX_MESSAGE_BYTES": "lots"},
    ):
        with pytest.raises(ServeError):
            Config.from_env(bad)


def test_committed_proto_matches_the_contract() -> None:
    sdk = Path(__file__).resolve().parents[1]
    committed = sdk / "src" / "autopilot_sdk" / "proto" / "worker.proto"
    contract = sdk.parent / "proto" / "autopilot" / "worker" / "v1" / "worker.proto"
    assert committed.read_text() == contract.read_text(), "run sdk-python/generate-stubs.sh"


def test_committed_stubs_match_a_fresh_generation(tmp_path: Path) -> None:
    from grpc_tools import protoc  # type: ignore[import-untyped]

    src = Path(__file__).resolve().parents[1] / "src"
    args = ["protoc", f"-I{src}", f"--python_out={tmp_path}", f"--pyi_out={tmp_path}"]
    args += [f"--grpc_python_out={tmp_path}", str(src / "autopilot_sdk/proto/worker.proto")]
    assert protoc.main(args) == 0
    for name in ("worker_pb2.py", "worker_pb2.pyi", "worker_pb2_grpc.py"):
        fresh = (tmp_path / "autopilot_sdk/proto" / name).read_text()
        committed = (src / "autopilot_sdk/proto" / name).read_text()
        assert fresh == committed, f"{name} is stale: run sdk-python/generate-stubs.sh"
