import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from strata.v1 import admin_service_pb2 as _admin_service_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SnapshotHeader(_message.Message):
    __slots__ = ("model_version", "preset", "as_of", "created_at", "model_card")
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    PRESET_FIELD_NUMBER: _ClassVar[int]
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    MODEL_CARD_FIELD_NUMBER: _ClassVar[int]
    model_version: str
    preset: str
    as_of: _timestamp_pb2.Timestamp
    created_at: _timestamp_pb2.Timestamp
    model_card: _admin_service_pb2.ModelCard
    def __init__(self, model_version: _Optional[str] = ..., preset: _Optional[str] = ..., as_of: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., model_card: _Optional[_Union[_admin_service_pb2.ModelCard, _Mapping]] = ...) -> None: ...

class SnapshotTrailer(_message.Message):
    __slots__ = ("profiles", "checksum")
    PROFILES_FIELD_NUMBER: _ClassVar[int]
    CHECKSUM_FIELD_NUMBER: _ClassVar[int]
    profiles: int
    checksum: int
    def __init__(self, profiles: _Optional[int] = ..., checksum: _Optional[int] = ...) -> None: ...
