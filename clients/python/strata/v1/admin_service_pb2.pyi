import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class VersionState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VERSION_STATE_UNSPECIFIED: _ClassVar[VersionState]
    VERSION_STATE_BUILDING: _ClassVar[VersionState]
    VERSION_STATE_READY: _ClassVar[VersionState]
    VERSION_STATE_FAILED: _ClassVar[VersionState]
VERSION_STATE_UNSPECIFIED: VersionState
VERSION_STATE_BUILDING: VersionState
VERSION_STATE_READY: VersionState
VERSION_STATE_FAILED: VersionState

class StatsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class StatsResponse(_message.Message):
    __slots__ = ("model_version", "users", "layers", "tiers", "quadrants", "channels")
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    USERS_FIELD_NUMBER: _ClassVar[int]
    LAYERS_FIELD_NUMBER: _ClassVar[int]
    TIERS_FIELD_NUMBER: _ClassVar[int]
    QUADRANTS_FIELD_NUMBER: _ClassVar[int]
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    model_version: str
    users: int
    layers: _containers.RepeatedCompositeFieldContainer[LayerUsers]
    tiers: _containers.RepeatedCompositeFieldContainer[FacetUsers]
    quadrants: _containers.RepeatedCompositeFieldContainer[FacetUsers]
    channels: _containers.RepeatedCompositeFieldContainer[FacetUsers]
    def __init__(self, model_version: _Optional[str] = ..., users: _Optional[int] = ..., layers: _Optional[_Iterable[_Union[LayerUsers, _Mapping]]] = ..., tiers: _Optional[_Iterable[_Union[FacetUsers, _Mapping]]] = ..., quadrants: _Optional[_Iterable[_Union[FacetUsers, _Mapping]]] = ..., channels: _Optional[_Iterable[_Union[FacetUsers, _Mapping]]] = ...) -> None: ...

class LayerUsers(_message.Message):
    __slots__ = ("layer_index", "layer", "churned", "users")
    LAYER_INDEX_FIELD_NUMBER: _ClassVar[int]
    LAYER_FIELD_NUMBER: _ClassVar[int]
    CHURNED_FIELD_NUMBER: _ClassVar[int]
    USERS_FIELD_NUMBER: _ClassVar[int]
    layer_index: int
    layer: str
    churned: bool
    users: int
    def __init__(self, layer_index: _Optional[int] = ..., layer: _Optional[str] = ..., churned: bool = ..., users: _Optional[int] = ...) -> None: ...

class FacetUsers(_message.Message):
    __slots__ = ("name", "users")
    NAME_FIELD_NUMBER: _ClassVar[int]
    USERS_FIELD_NUMBER: _ClassVar[int]
    name: str
    users: int
    def __init__(self, name: _Optional[str] = ..., users: _Optional[int] = ...) -> None: ...

class WatchTransitionsRequest(_message.Message):
    __slots__ = ("from_cursor", "layers")
    FROM_CURSOR_FIELD_NUMBER: _ClassVar[int]
    LAYERS_FIELD_NUMBER: _ClassVar[int]
    from_cursor: int
    layers: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, from_cursor: _Optional[int] = ..., layers: _Optional[_Iterable[str]] = ...) -> None: ...

class WatchTransitionsResponse(_message.Message):
    __slots__ = ("transitions",)
    TRANSITIONS_FIELD_NUMBER: _ClassVar[int]
    transitions: _containers.RepeatedCompositeFieldContainer[Transition]
    def __init__(self, transitions: _Optional[_Iterable[_Union[Transition, _Mapping]]] = ...) -> None: ...

class Transition(_message.Message):
    __slots__ = ("cursor", "user_id", "from_layer", "to_layer", "model_version", "at")
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    FROM_LAYER_FIELD_NUMBER: _ClassVar[int]
    TO_LAYER_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    cursor: int
    user_id: str
    from_layer: str
    to_layer: str
    model_version: str
    at: _timestamp_pb2.Timestamp
    def __init__(self, cursor: _Optional[int] = ..., user_id: _Optional[str] = ..., from_layer: _Optional[str] = ..., to_layer: _Optional[str] = ..., model_version: _Optional[str] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class LoadSnapshotRequest(_message.Message):
    __slots__ = ("path",)
    PATH_FIELD_NUMBER: _ClassVar[int]
    path: str
    def __init__(self, path: _Optional[str] = ...) -> None: ...

class LoadSnapshotResponse(_message.Message):
    __slots__ = ("version", "previous_model_version", "sampled_reads")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    SAMPLED_READS_FIELD_NUMBER: _ClassVar[int]
    version: ModelVersion
    previous_model_version: str
    sampled_reads: int
    def __init__(self, version: _Optional[_Union[ModelVersion, _Mapping]] = ..., previous_model_version: _Optional[str] = ..., sampled_reads: _Optional[int] = ...) -> None: ...

class ListVersionsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListVersionsResponse(_message.Message):
    __slots__ = ("versions", "cards")
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    CARDS_FIELD_NUMBER: _ClassVar[int]
    versions: _containers.RepeatedCompositeFieldContainer[ModelVersion]
    cards: _containers.RepeatedCompositeFieldContainer[ModelCard]
    def __init__(self, versions: _Optional[_Iterable[_Union[ModelVersion, _Mapping]]] = ..., cards: _Optional[_Iterable[_Union[ModelCard, _Mapping]]] = ...) -> None: ...

class ModelCard(_message.Message):
    __slots__ = ("model_version", "fitted_model_version", "preset", "strata_version", "as_of", "first_event_day", "last_event_day", "users", "buyers", "models", "switched_off")
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    FITTED_MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    PRESET_FIELD_NUMBER: _ClassVar[int]
    STRATA_VERSION_FIELD_NUMBER: _ClassVar[int]
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    FIRST_EVENT_DAY_FIELD_NUMBER: _ClassVar[int]
    LAST_EVENT_DAY_FIELD_NUMBER: _ClassVar[int]
    USERS_FIELD_NUMBER: _ClassVar[int]
    BUYERS_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    SWITCHED_OFF_FIELD_NUMBER: _ClassVar[int]
    model_version: str
    fitted_model_version: str
    preset: str
    strata_version: str
    as_of: _timestamp_pb2.Timestamp
    first_event_day: str
    last_event_day: str
    users: int
    buyers: int
    models: _containers.RepeatedCompositeFieldContainer[ModelQuality]
    switched_off: _containers.RepeatedCompositeFieldContainer[SwitchedOffPrediction]
    def __init__(self, model_version: _Optional[str] = ..., fitted_model_version: _Optional[str] = ..., preset: _Optional[str] = ..., strata_version: _Optional[str] = ..., as_of: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., first_event_day: _Optional[str] = ..., last_event_day: _Optional[str] = ..., users: _Optional[int] = ..., buyers: _Optional[int] = ..., models: _Optional[_Iterable[_Union[ModelQuality, _Mapping]]] = ..., switched_off: _Optional[_Iterable[_Union[SwitchedOffPrediction, _Mapping]]] = ...) -> None: ...

class ModelQuality(_message.Message):
    __slots__ = ("model", "users", "served", "figures")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    USERS_FIELD_NUMBER: _ClassVar[int]
    SERVED_FIELD_NUMBER: _ClassVar[int]
    FIGURES_FIELD_NUMBER: _ClassVar[int]
    model: str
    users: int
    served: str
    figures: _containers.RepeatedCompositeFieldContainer[QualityFigure]
    def __init__(self, model: _Optional[str] = ..., users: _Optional[int] = ..., served: _Optional[str] = ..., figures: _Optional[_Iterable[_Union[QualityFigure, _Mapping]]] = ...) -> None: ...

class QualityFigure(_message.Message):
    __slots__ = ("candidate", "baseline", "metric", "value")
    CANDIDATE_FIELD_NUMBER: _ClassVar[int]
    BASELINE_FIELD_NUMBER: _ClassVar[int]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    candidate: str
    baseline: bool
    metric: str
    value: float
    def __init__(self, candidate: _Optional[str] = ..., baseline: bool = ..., metric: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...

class SwitchedOffPrediction(_message.Message):
    __slots__ = ("prediction", "reason")
    PREDICTION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    prediction: str
    reason: str
    def __init__(self, prediction: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class ModelVersion(_message.Message):
    __slots__ = ("model_version", "state", "record_count", "estimated_records", "created_at", "loaded_at", "current", "previous", "failure", "users")
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    RECORD_COUNT_FIELD_NUMBER: _ClassVar[int]
    ESTIMATED_RECORDS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    LOADED_AT_FIELD_NUMBER: _ClassVar[int]
    CURRENT_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_FIELD_NUMBER: _ClassVar[int]
    FAILURE_FIELD_NUMBER: _ClassVar[int]
    USERS_FIELD_NUMBER: _ClassVar[int]
    model_version: str
    state: VersionState
    record_count: int
    estimated_records: int
    created_at: _timestamp_pb2.Timestamp
    loaded_at: _timestamp_pb2.Timestamp
    current: bool
    previous: bool
    failure: str
    users: int
    def __init__(self, model_version: _Optional[str] = ..., state: _Optional[_Union[VersionState, str]] = ..., record_count: _Optional[int] = ..., estimated_records: _Optional[int] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., loaded_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., current: bool = ..., previous: bool = ..., failure: _Optional[str] = ..., users: _Optional[int] = ...) -> None: ...

class RollbackRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RollbackResponse(_message.Message):
    __slots__ = ("from_model_version", "to_model_version")
    FROM_MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    TO_MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    from_model_version: str
    to_model_version: str
    def __init__(self, from_model_version: _Optional[str] = ..., to_model_version: _Optional[str] = ...) -> None: ...

class CreateBackupRequest(_message.Message):
    __slots__ = ("dir",)
    DIR_FIELD_NUMBER: _ClassVar[int]
    dir: str
    def __init__(self, dir: _Optional[str] = ...) -> None: ...

class CreateBackupResponse(_message.Message):
    __slots__ = ("dir", "model_version", "producers")
    DIR_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    PRODUCERS_FIELD_NUMBER: _ClassVar[int]
    dir: str
    model_version: str
    producers: _containers.RepeatedCompositeFieldContainer[ProducerSequence]
    def __init__(self, dir: _Optional[str] = ..., model_version: _Optional[str] = ..., producers: _Optional[_Iterable[_Union[ProducerSequence, _Mapping]]] = ...) -> None: ...

class ProducerSequence(_message.Message):
    __slots__ = ("producer_id", "last_applied_sequence")
    PRODUCER_ID_FIELD_NUMBER: _ClassVar[int]
    LAST_APPLIED_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    producer_id: str
    last_applied_sequence: int
    def __init__(self, producer_id: _Optional[str] = ..., last_applied_sequence: _Optional[int] = ...) -> None: ...
