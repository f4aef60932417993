from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DescribeRequest(_message.Message):
    __slots__ = ("protocol_version", "scheduler_version")
    PROTOCOL_VERSION_FIELD_NUMBER: _ClassVar[int]
    SCHEDULER_VERSION_FIELD_NUMBER: _ClassVar[int]
    protocol_version: str
    scheduler_version: str
    def __init__(self, protocol_version: _Optional[str] = ..., scheduler_version: _Optional[str] = ...) -> None: ...

class DescribeResponse(_message.Message):
    __slots__ = ("protocol_version", "worker_name", "worker_version", "phases", "finalize", "capabilities")
    PROTOCOL_VERSION_FIELD_NUMBER: _ClassVar[int]
    WORKER_NAME_FIELD_NUMBER: _ClassVar[int]
    WORKER_VERSION_FIELD_NUMBER: _ClassVar[int]
    PHASES_FIELD_NUMBER: _ClassVar[int]
    FINALIZE_FIELD_NUMBER: _ClassVar[int]
    CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    protocol_version: str
    worker_name: str
    worker_version: str
    phases: _containers.RepeatedScalarFieldContainer[str]
    finalize: bool
    capabilities: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, protocol_version: _Optional[str] = ..., worker_name: _Optional[str] = ..., worker_version: _Optional[str] = ..., phases: _Optional[_Iterable[str]] = ..., finalize: _Optional[bool] = ..., capabilities: _Optional[_Iterable[str]] = ...) -> None: ...

class SyncRequest(_message.Message):
    __slots__ = ("phase", "resource", "objects", "metrics", "meta", "events", "traces")
    class ObjectsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: ObjectList
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[ObjectList, _Mapping]] = ...) -> None: ...
    class MetricsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: MetricResult
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[MetricResult, _Mapping]] = ...) -> None: ...
    class EventsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: EventList
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[EventList, _Mapping]] = ...) -> None: ...
    class TracesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: TraceResult
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[TraceResult, _Mapping]] = ...) -> None: ...
    PHASE_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_FIELD_NUMBER: _ClassVar[int]
    OBJECTS_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    META_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    TRACES_FIELD_NUMBER: _ClassVar[int]
    phase: str
    resource: bytes
    objects: _containers.MessageMap[str, ObjectList]
    metrics: _containers.MessageMap[str, MetricResult]
    meta: RequestMeta
    events: _containers.MessageMap[str, EventList]
    traces: _containers.MessageMap[str, TraceResult]
    def __init__(self, phase: _Optional[str] = ..., resource: _Optional[bytes] = ..., objects: _Optional[_Mapping[str, ObjectList]] = ..., metrics: _Optional[_Mapping[str, MetricResult]] = ..., meta: _Optional[_Union[RequestMeta, _Mapping]] = ..., events: _Optional[_Mapping[str, EventList]] = ..., traces: _Optional[_Mapping[str, TraceResult]] = ...) -> None: ...

class RequestMeta(_message.Message):
    __slots__ = ("attempt", "tag", "deadline_unix_ms", "generation", "operator_name")
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    TAG_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    GENERATION_FIELD_NUMBER: _ClassVar[int]
    OPERATOR_NAME_FIELD_NUMBER: _ClassVar[int]
    attempt: int
    tag: str
    deadline_unix_ms: int
    generation: int
    operator_name: str
    def __init__(self, attempt: _Optional[int] = ..., tag: _Optional[str] = ..., deadline_unix_ms: _Optional[int] = ..., generation: _Optional[int] = ..., operator_name: _Optional[str] = ...) -> None: ...

class ObjectList(_message.Message):
    __slots__ = ("items", "error")
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedScalarFieldContainer[bytes]
    error: str
    def __init__(self, items: _Optional[_Iterable[bytes]] = ..., error: _Optional[str] = ...) -> None: ...

class MetricResult(_message.Message):
    __slots__ = ("query", "type", "series", "no_data", "error")
    class ResultType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        RESULT_TYPE_UNSPECIFIED: _ClassVar[MetricResult.ResultType]
        RESULT_TYPE_SCALAR: _ClassVar[MetricResult.ResultType]
        RESULT_TYPE_VECTOR: _ClassVar[MetricResult.ResultType]
        RESULT_TYPE_MATRIX: _ClassVar[MetricResult.ResultType]
    RESULT_TYPE_UNSPECIFIED: MetricResult.ResultType
    RESULT_TYPE_SCALAR: MetricResult.ResultType
    RESULT_TYPE_VECTOR: MetricResult.ResultType
    RESULT_TYPE_MATRIX: MetricResult.ResultType
    QUERY_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    SERIES_FIELD_NUMBER: _ClassVar[int]
    NO_DATA_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    query: str
    type: MetricResult.ResultType
    series: _containers.RepeatedCompositeFieldContainer[Series]
    no_data: bool
    error: str
    def __init__(self, query: _Optional[str] = ..., type: _Optional[_Union[MetricResult.ResultType, str]] = ..., series: _Optional[_Iterable[_Union[Series, _Mapping]]] = ..., no_data: _Optional[bool] = ..., error: _Optional[str] = ...) -> None: ...

class Series(_message.Message):
    __slots__ = ("labels", "samples")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    LABELS_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    labels: _containers.ScalarMap[str, str]
    samples: _containers.RepeatedCompositeFieldContainer[Sample]
    def __init__(self, labels: _Optional[_Mapping[str, str]] = ..., samples: _Optional[_Iterable[_Union[Sample, _Mapping]]] = ...) -> None: ...

class Sample(_message.Message):
    __slots__ = ("timestamp_ms", "value", "is_nan")
    TIMESTAMP_MS_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    IS_NAN_FIELD_NUMBER: _ClassVar[int]
    timestamp_ms: int
    value: float
    is_nan: bool
    def __init__(self, timestamp_ms: _Optional[int] = ..., value: _Optional[float] = ..., is_nan: _Optional[bool] = ...) -> None: ...

class EventList(_message.Message):
    __slots__ = ("items", "error")
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[ExternalEvent]
    error: str
    def __init__(self, items: _Optional[_Iterable[_Union[ExternalEvent, _Mapping]]] = ..., error: _Optional[str] = ...) -> None: ...

class ExternalEvent(_message.Message):
    __slots__ = ("id", "source", "type", "subject", "time_unix_ms", "data_content_type", "data", "extensions", "accepted_unix_ms")
    class ExtensionsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    TIME_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    DATA_CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    EXTENSIONS_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    id: str
    source: str
    type: str
    subject: str
    time_unix_ms: int
    data_content_type: str
    data: bytes
    extensions: _containers.ScalarMap[str, str]
    accepted_unix_ms: int
    def __init__(self, id: _Optional[str] = ..., source: _Optional[str] = ..., type: _Optional[str] = ..., subject: _Optional[str] = ..., time_unix_ms: _Optional[int] = ..., data_content_type: _Optional[str] = ..., data: _Optional[bytes] = ..., extensions: _Optional[_Mapping[str, str]] = ..., accepted_unix_ms: _Optional[int] = ...) -> None: ...

class TraceResult(_message.Message):
    __slots__ = ("query", "no_data", "error", "total", "operations", "samples")
    QUERY_FIELD_NUMBER: _ClassVar[int]
    NO_DATA_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    OPERATIONS_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    query: str
    no_data: bool
    error: str
    total: SpanStats
    operations: _containers.RepeatedCompositeFieldContainer[SpanStats]
    samples: _containers.RepeatedCompositeFieldContainer[TraceSample]
    def __init__(self, query: _Optional[str] = ..., no_data: _Optional[bool] = ..., error: _Optional[str] = ..., total: _Optional[_Union[SpanStats, _Mapping]] = ..., operations: _Optional[_Iterable[_Union[SpanStats, _Mapping]]] = ..., samples: _Optional[_Iterable[_Union[TraceSample, _Mapping]]] = ...) -> None: ...

class SpanStats(_message.Message):
    __slots__ = ("service", "operation", "span_count", "error_count", "error_ratio", "p50_ms", "p90_ms", "p99_ms")
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    OPERATION_FIELD_NUMBER: _ClassVar[int]
    SPAN_COUNT_FIELD_NUMBER: _ClassVar[int]
    ERROR_COUNT_FIELD_NUMBER: _ClassVar[int]
    ERROR_RATIO_FIELD_NUMBER: _ClassVar[int]
    P50_MS_FIELD_NUMBER: _ClassVar[int]
    P90_MS_FIELD_NUMBER: _ClassVar[int]
    P99_MS_FIELD_NUMBER: _ClassVar[int]
    service: str
    operation: str
    span_count: int
    error_count: int
    error_ratio: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    def __init__(self, service: _Optional[str] = ..., operation: _Optional[str] = ..., span_count: _Optional[int] = ..., error_count: _Optional[int] = ..., error_ratio: _Optional[float] = ..., p50_ms: _Optional[float] = ..., p90_ms: _Optional[float] = ..., p99_ms: _Optional[float] = ...) -> None: ...

class TraceSample(_message.Message):
    __slots__ = ("trace_id", "root_service", "root_operation", "duration_ms", "start_unix_ms", "error_spans")
    TRACE_ID_FIELD_NUMBER: _ClassVar[int]
    ROOT_SERVICE_FIELD_NUMBER: _ClassVar[int]
    ROOT_OPERATION_FIELD_NUMBER: _ClassVar[int]
    DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    START_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    ERROR_SPANS_FIELD_NUMBER: _ClassVar[int]
    trace_id: str
    root_service: str
    root_operation: str
    duration_ms: float
    start_unix_ms: int
    error_spans: _containers.RepeatedCompositeFieldContainer[ErrorSpan]
    def __init__(self, trace_id: _Optional[str] = ..., root_service: _Optional[str] = ..., root_operation: _Optional[str] = ..., duration_ms: _Optional[float] = ..., start_unix_ms: _Optional[int] = ..., error_spans: _Optional[_Iterable[_Union[ErrorSpan, _Mapping]]] = ...) -> None: ...

class ErrorSpan(_message.Message):
    __slots__ = ("service", "operation", "status_message")
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    OPERATION_FIELD_NUMBER: _ClassVar[int]
    STATUS_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    service: str
    operation: str
    status_message: str
    def __init__(self, service: _Optional[str] = ..., operation: _Optional[str] = ..., status_message: _Optional[str] = ...) -> None: ...

class SyncResponse(_message.Message):
    __slots__ = ("next_phase", "outputs", "status_info", "conditions", "events", "requeue_after_ms")
    NEXT_PHASE_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    STATUS_INFO_FIELD_NUMBER: _ClassVar[int]
    CONDITIONS_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    REQUEUE_AFTER_MS_FIELD_NUMBER: _ClassVar[int]
    next_phase: str
    outputs: _containers.RepeatedScalarFieldContainer[bytes]
    status_info: bytes
    conditions: _containers.RepeatedCompositeFieldContainer[Condition]
    events: _containers.RepeatedCompositeFieldContainer[Event]
    requeue_after_ms: int
    def __init__(self, next_phase: _Optional[str] = ..., outputs: _Optional[_Iterable[bytes]] = ..., status_info: _Optional[bytes] = ..., conditions: _Optional[_Iterable[_Union[Condition, _Mapping]]] = ..., events: _Optional[_Iterable[_Union[Event, _Mapping]]] = ..., requeue_after_ms: _Optional[int] = ...) -> None: ...

class Condition(_message.Message):
    __slots__ = ("type", "status", "reason", "message")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    type: str
    status: str
    reason: str
    message: str
    def __init__(self, type: _Optional[str] = ..., status: _Optional[str] = ..., reason: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class Event(_message.Message):
    __slots__ = ("severity", "reason", "message")
    class Severity(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        SEVERITY_UNSPECIFIED: _ClassVar[Event.Severity]
        SEVERITY_NORMAL: _ClassVar[Event.Severity]
        SEVERITY_WARNING: _ClassVar[Event.Severity]
    SEVERITY_UNSPECIFIED: Event.Severity
    SEVERITY_NORMAL: Event.Severity
    SEVERITY_WARNING: Event.Severity
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    severity: Event.Severity
    reason: str
    message: str
    def __init__(self, severity: _Optional[_Union[Event.Severity, str]] = ..., reason: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class FinalizeRequest(_message.Message):
    __slots__ = ("resource", "meta")
    RESOURCE_FIELD_NUMBER: _ClassVar[int]
    META_FIELD_NUMBER: _ClassVar[int]
    resource: bytes
    meta: RequestMeta
    def __init__(self, resource: _Optional[bytes] = ..., meta: _Optional[_Union[RequestMeta, _Mapping]] = ...) -> None: ...

class FinalizeResponse(_message.Message):
    __slots__ = ("done", "events", "requeue_after_ms")
    DONE_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    REQUEUE_AFTER_MS_FIELD_NUMBER: _ClassVar[int]
    done: bool
    events: _containers.RepeatedCompositeFieldContainer[Event]
    requeue_after_ms: int
    def __init__(self, done: _Optional[bool] = ..., events: _Optional[_Iterable[_Union[Event, _Mapping]]] = ..., requeue_after_ms: _Optional[int] = ...) -> None: ...
