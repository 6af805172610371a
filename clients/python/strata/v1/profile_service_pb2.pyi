import datetime

from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from strata.v1 import profile_pb2 as _profile_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Surface(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SURFACE_UNSPECIFIED: _ClassVar[Surface]
    SURFACE_CHECKOUT: _ClassVar[Surface]
    SURFACE_APP_HOME: _ClassVar[Surface]
    SURFACE_PUSH: _ClassVar[Surface]

class OfferVerdict(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OFFER_VERDICT_UNSPECIFIED: _ClassVar[OfferVerdict]
    OFFER_VERDICT_SERVED: _ClassVar[OfferVerdict]
    OFFER_VERDICT_NOT_YET_VALID: _ClassVar[OfferVerdict]
    OFFER_VERDICT_EXPIRED: _ClassVar[OfferVerdict]
    OFFER_VERDICT_CURRENCY_MISMATCH: _ClassVar[OfferVerdict]
    OFFER_VERDICT_BELOW_MINIMUM_SPEND: _ClassVar[OfferVerdict]
    OFFER_VERDICT_CONTROL_ARM: _ClassVar[OfferVerdict]
    OFFER_VERDICT_DUPLICATE: _ClassVar[OfferVerdict]
    OFFER_VERDICT_BEYOND_LIMIT: _ClassVar[OfferVerdict]
SURFACE_UNSPECIFIED: Surface
SURFACE_CHECKOUT: Surface
SURFACE_APP_HOME: Surface
SURFACE_PUSH: Surface
OFFER_VERDICT_UNSPECIFIED: OfferVerdict
OFFER_VERDICT_SERVED: OfferVerdict
OFFER_VERDICT_NOT_YET_VALID: OfferVerdict
OFFER_VERDICT_EXPIRED: OfferVerdict
OFFER_VERDICT_CURRENCY_MISMATCH: OfferVerdict
OFFER_VERDICT_BELOW_MINIMUM_SPEND: OfferVerdict
OFFER_VERDICT_CONTROL_ARM: OfferVerdict
OFFER_VERDICT_DUPLICATE: OfferVerdict
OFFER_VERDICT_BEYOND_LIMIT: OfferVerdict

class BatchGetProfilesRequest(_message.Message):
    __slots__ = ("user_ids", "field_mask")
    USER_IDS_FIELD_NUMBER: _ClassVar[int]
    FIELD_MASK_FIELD_NUMBER: _ClassVar[int]
    user_ids: _containers.RepeatedScalarFieldContainer[str]
    field_mask: _field_mask_pb2.FieldMask
    def __init__(self, user_ids: _Optional[_Iterable[str]] = ..., field_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class BatchGetProfilesResponse(_message.Message):
    __slots__ = ("results", "missing_indices")
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    MISSING_INDICES_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[ProfileResult]
    missing_indices: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, results: _Optional[_Iterable[_Union[ProfileResult, _Mapping]]] = ..., missing_indices: _Optional[_Iterable[int]] = ...) -> None: ...

class ProfileResult(_message.Message):
    __slots__ = ("user_id", "profile")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    profile: _profile_pb2.Profile
    def __init__(self, user_id: _Optional[str] = ..., profile: _Optional[_Union[_profile_pb2.Profile, _Mapping]] = ...) -> None: ...

class OfferContext(_message.Message):
    __slots__ = ("surface", "cart_value", "currency", "request_time")
    SURFACE_FIELD_NUMBER: _ClassVar[int]
    CART_VALUE_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    REQUEST_TIME_FIELD_NUMBER: _ClassVar[int]
    surface: Surface
    cart_value: int
    currency: str
    request_time: _timestamp_pb2.Timestamp
    def __init__(self, surface: _Optional[_Union[Surface, str]] = ..., cart_value: _Optional[int] = ..., currency: _Optional[str] = ..., request_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetOffersRequest(_message.Message):
    __slots__ = ("user_id", "context", "max_offers", "explain")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    MAX_OFFERS_FIELD_NUMBER: _ClassVar[int]
    EXPLAIN_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    context: OfferContext
    max_offers: int
    explain: bool
    def __init__(self, user_id: _Optional[str] = ..., context: _Optional[_Union[OfferContext, _Mapping]] = ..., max_offers: _Optional[int] = ..., explain: bool = ...) -> None: ...

class GetOffersResponse(_message.Message):
    __slots__ = ("offers", "cold_start", "explanation", "global_control_group")
    OFFERS_FIELD_NUMBER: _ClassVar[int]
    COLD_START_FIELD_NUMBER: _ClassVar[int]
    EXPLANATION_FIELD_NUMBER: _ClassVar[int]
    GLOBAL_CONTROL_GROUP_FIELD_NUMBER: _ClassVar[int]
    offers: _containers.RepeatedCompositeFieldContainer[_profile_pb2.Benefit]
    cold_start: bool
    explanation: OffersExplanation
    global_control_group: bool
    def __init__(self, offers: _Optional[_Iterable[_Union[_profile_pb2.Benefit, _Mapping]]] = ..., cold_start: bool = ..., explanation: _Optional[_Union[OffersExplanation, _Mapping]] = ..., global_control_group: bool = ...) -> None: ...

class OffersExplanation(_message.Message):
    __slots__ = ("benefits", "model_version", "frequency_capped", "dropped_by_job")
    BENEFITS_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    FREQUENCY_CAPPED_FIELD_NUMBER: _ClassVar[int]
    DROPPED_BY_JOB_FIELD_NUMBER: _ClassVar[int]
    benefits: _containers.RepeatedCompositeFieldContainer[OfferExplanation]
    model_version: str
    frequency_capped: bool
    dropped_by_job: _containers.RepeatedCompositeFieldContainer[_profile_pb2.DroppedBenefit]
    def __init__(self, benefits: _Optional[_Iterable[_Union[OfferExplanation, _Mapping]]] = ..., model_version: _Optional[str] = ..., frequency_capped: bool = ..., dropped_by_job: _Optional[_Iterable[_Union[_profile_pb2.DroppedBenefit, _Mapping]]] = ...) -> None: ...

class OfferExplanation(_message.Message):
    __slots__ = ("benefit", "verdict", "detail", "rank", "campaign_id")
    BENEFIT_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    RANK_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    benefit: _profile_pb2.Benefit
    verdict: OfferVerdict
    detail: str
    rank: int
    campaign_id: str
    def __init__(self, benefit: _Optional[_Union[_profile_pb2.Benefit, _Mapping]] = ..., verdict: _Optional[_Union[OfferVerdict, str]] = ..., detail: _Optional[str] = ..., rank: _Optional[int] = ..., campaign_id: _Optional[str] = ...) -> None: ...
