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
    __slots__ = ("phase", "resource", "objects", "metrics", "meta")
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
    PHASE_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_FIELD_NUMBER: _ClassVar[int]
    OBJECTS_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    META_FIELD_NUMBER: _ClassVar[int]
    phase: str
    resource: bytes
    objects: _containers.MessageMap[str, ObjectList]
    metrics: _containers.MessageMap[str, MetricResult]
    meta: RequestMeta
    def __init__(self, phase: _Optional[str] = ..., resource: _Optional[bytes] = ..., objects: _Optional[_Mapping[str, ObjectList]] = ..., metrics: _Optional[_Mapping[str, MetricResult]] = ..., meta: _Optional[_Union[RequestMeta, _Mapping]] = ...) -> None: ...

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
