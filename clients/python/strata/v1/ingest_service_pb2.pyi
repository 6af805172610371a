from strata.v1 import admin_service_pb2 as _admin_service_pb2
from strata.v1 import profile_pb2 as _profile_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ApplyUpdatesRequest(_message.Message):
    __slots__ = ("producer_id", "sequence", "upserts", "deletes", "model_version", "model_card")
    PRODUCER_ID_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    UPSERTS_FIELD_NUMBER: _ClassVar[int]
    DELETES_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    MODEL_CARD_FIELD_NUMBER: _ClassVar[int]
    producer_id: str
    sequence: int
    upserts: _containers.RepeatedCompositeFieldContainer[_profile_pb2.Profile]
    deletes: _containers.RepeatedScalarFieldContainer[str]
    model_version: str
    model_card: _admin_service_pb2.ModelCard
    def __init__(self, producer_id: _Optional[str] = ..., sequence: _Optional[int] = ..., upserts: _Optional[_Iterable[_Union[_profile_pb2.Profile, _Mapping]]] = ..., deletes: _Optional[_Iterable[str]] = ..., model_version: _Optional[str] = ..., model_card: _Optional[_Union[_admin_service_pb2.ModelCard, _Mapping]] = ...) -> None: ...

class ApplyUpdatesResponse(_message.Message):
    __slots__ = ("producer_id", "last_applied_sequence", "batches_applied", "batches_replayed", "upserts", "deletes")
    PRODUCER_ID_FIELD_NUMBER: _ClassVar[int]
    LAST_APPLIED_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    BATCHES_APPLIED_FIELD_NUMBER: _ClassVar[int]
    BATCHES_REPLAYED_FIELD_NUMBER: _ClassVar[int]
    UPSERTS_FIELD_NUMBER: _ClassVar[int]
    DELETES_FIELD_NUMBER: _ClassVar[int]
    producer_id: str
    last_applied_sequence: int
    batches_applied: int
    batches_replayed: int
    upserts: int
    deletes: int
    def __init__(self, producer_id: _Optional[str] = ..., last_applied_sequence: _Optional[int] = ..., batches_applied: _Optional[int] = ..., batches_replayed: _Optional[int] = ..., upserts: _Optional[int] = ..., deletes: _Optional[int] = ...) -> None: ...

class GetIngestStateRequest(_message.Message):
    __slots__ = ("producer_id",)
    PRODUCER_ID_FIELD_NUMBER: _ClassVar[int]
    producer_id: str
    def __init__(self, producer_id: _Optional[str] = ...) -> None: ...

class GetIngestStateResponse(_message.Message):
    __slots__ = ("producer_id", "last_applied_sequence", "store_id", "model_version", "version_generation")
    PRODUCER_ID_FIELD_NUMBER: _ClassVar[int]
    LAST_APPLIED_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    VERSION_GENERATION_FIELD_NUMBER: _ClassVar[int]
    producer_id: str
    last_applied_sequence: int
    store_id: str
    model_version: str
    version_generation: int
    def __init__(self, producer_id: _Optional[str] = ..., last_applied_sequence: _Optional[int] = ..., store_id: _Optional[str] = ..., model_version: _Optional[str] = ..., version_generation: _Optional[int] = ...) -> None: ...
