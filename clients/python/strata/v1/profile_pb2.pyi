import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DropRule(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DROP_RULE_UNSPECIFIED: _ClassVar[DropRule]
    DROP_RULE_FAIRNESS: _ClassVar[DropRule]
    DROP_RULE_NOT_PROFITABLE: _ClassVar[DropRule]

class Arm(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ARM_UNSPECIFIED: _ClassVar[Arm]
    ARM_TREATMENT: _ClassVar[Arm]
    ARM_CONTROL: _ClassVar[Arm]

class Tier(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TIER_UNSPECIFIED: _ClassVar[Tier]
    TIER_HIGH: _ClassVar[Tier]
    TIER_MEDIUM: _ClassVar[Tier]
    TIER_LOW: _ClassVar[Tier]

class QuadrantKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    QUADRANT_KIND_UNSPECIFIED: _ClassVar[QuadrantKind]
    QUADRANT_KIND_ANGEL: _ClassVar[QuadrantKind]
    QUADRANT_KIND_FREELOADER: _ClassVar[QuadrantKind]
    QUADRANT_KIND_HOSTAGE: _ClassVar[QuadrantKind]
    QUADRANT_KIND_DANGER: _ClassVar[QuadrantKind]

class Channel(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CHANNEL_UNSPECIFIED: _ClassVar[Channel]
    CHANNEL_SMS: _ClassVar[Channel]
    CHANNEL_APP_PUSH: _ClassVar[Channel]
    CHANNEL_WECHAT: _ClassVar[Channel]
    CHANNEL_EMAIL: _ClassVar[Channel]

class BenefitKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BENEFIT_KIND_UNSPECIFIED: _ClassVar[BenefitKind]
    BENEFIT_KIND_COUPON: _ClassVar[BenefitKind]
    BENEFIT_KIND_DISCOUNT: _ClassVar[BenefitKind]
    BENEFIT_KIND_POINTS: _ClassVar[BenefitKind]
    BENEFIT_KIND_FREE_SHIPPING: _ClassVar[BenefitKind]
DROP_RULE_UNSPECIFIED: DropRule
DROP_RULE_FAIRNESS: DropRule
DROP_RULE_NOT_PROFITABLE: DropRule
ARM_UNSPECIFIED: Arm
ARM_TREATMENT: Arm
ARM_CONTROL: Arm
TIER_UNSPECIFIED: Tier
TIER_HIGH: Tier
TIER_MEDIUM: Tier
TIER_LOW: Tier
QUADRANT_KIND_UNSPECIFIED: QuadrantKind
QUADRANT_KIND_ANGEL: QuadrantKind
QUADRANT_KIND_FREELOADER: QuadrantKind
QUADRANT_KIND_HOSTAGE: QuadrantKind
QUADRANT_KIND_DANGER: QuadrantKind
CHANNEL_UNSPECIFIED: Channel
CHANNEL_SMS: Channel
CHANNEL_APP_PUSH: Channel
CHANNEL_WECHAT: Channel
CHANNEL_EMAIL: Channel
BENEFIT_KIND_UNSPECIFIED: BenefitKind
BENEFIT_KIND_COUPON: BenefitKind
BENEFIT_KIND_DISCOUNT: BenefitKind
BENEFIT_KIND_POINTS: BenefitKind
BENEFIT_KIND_FREE_SHIPPING: BenefitKind

class Profile(_message.Message):
    __slots__ = ("user_id", "lifecycle", "value_tier", "lifetime_value", "quadrant", "propensity", "contact_channel", "benefits", "computed_at", "model_version", "tags", "campaigns", "last_purchase_at", "global_control", "churn", "next_order", "send_time", "dropped_benefits")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    LIFECYCLE_FIELD_NUMBER: _ClassVar[int]
    VALUE_TIER_FIELD_NUMBER: _ClassVar[int]
    LIFETIME_VALUE_FIELD_NUMBER: _ClassVar[int]
    QUADRANT_FIELD_NUMBER: _ClassVar[int]
    PROPENSITY_FIELD_NUMBER: _ClassVar[int]
    CONTACT_CHANNEL_FIELD_NUMBER: _ClassVar[int]
    BENEFITS_FIELD_NUMBER: _ClassVar[int]
    COMPUTED_AT_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGNS_FIELD_NUMBER: _ClassVar[int]
    LAST_PURCHASE_AT_FIELD_NUMBER: _ClassVar[int]
    GLOBAL_CONTROL_FIELD_NUMBER: _ClassVar[int]
    CHURN_FIELD_NUMBER: _ClassVar[int]
    NEXT_ORDER_FIELD_NUMBER: _ClassVar[int]
    SEND_TIME_FIELD_NUMBER: _ClassVar[int]
    DROPPED_BENEFITS_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    lifecycle: Lifecycle
    value_tier: ValueTier
    lifetime_value: LifetimeValue
    quadrant: Quadrant
    propensity: float
    contact_channel: ContactChannel
    benefits: _containers.RepeatedCompositeFieldContainer[Benefit]
    computed_at: _timestamp_pb2.Timestamp
    model_version: str
    tags: _containers.RepeatedCompositeFieldContainer[Tag]
    campaigns: _containers.RepeatedCompositeFieldContainer[CampaignArm]
    last_purchase_at: _timestamp_pb2.Timestamp
    global_control: bool
    churn: Churn
    next_order: NextOrder
    send_time: SendTime
    dropped_benefits: _containers.RepeatedCompositeFieldContainer[DroppedBenefit]
    def __init__(self, user_id: _Optional[str] = ..., lifecycle: _Optional[_Union[Lifecycle, _Mapping]] = ..., value_tier: _Optional[_Union[ValueTier, _Mapping]] = ..., lifetime_value: _Optional[_Union[LifetimeValue, _Mapping]] = ..., quadrant: _Optional[_Union[Quadrant, _Mapping]] = ..., propensity: _Optional[float] = ..., contact_channel: _Optional[_Union[ContactChannel, _Mapping]] = ..., benefits: _Optional[_Iterable[_Union[Benefit, _Mapping]]] = ..., computed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., model_version: _Optional[str] = ..., tags: _Optional[_Iterable[_Union[Tag, _Mapping]]] = ..., campaigns: _Optional[_Iterable[_Union[CampaignArm, _Mapping]]] = ..., last_purchase_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., global_control: bool = ..., churn: _Optional[_Union[Churn, _Mapping]] = ..., next_order: _Optional[_Union[NextOrder, _Mapping]] = ..., send_time: _Optional[_Union[SendTime, _Mapping]] = ..., dropped_benefits: _Optional[_Iterable[_Union[DroppedBenefit, _Mapping]]] = ...) -> None: ...

class DroppedBenefit(_message.Message):
    __slots__ = ("benefit_id", "rule", "expected_incremental_profit", "replaced_by")
    BENEFIT_ID_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_INCREMENTAL_PROFIT_FIELD_NUMBER: _ClassVar[int]
    REPLACED_BY_FIELD_NUMBER: _ClassVar[int]
    benefit_id: str
    rule: DropRule
    expected_incremental_profit: float
    replaced_by: str
    def __init__(self, benefit_id: _Optional[str] = ..., rule: _Optional[_Union[DropRule, str]] = ..., expected_incremental_profit: _Optional[float] = ..., replaced_by: _Optional[str] = ...) -> None: ...

class Churn(_message.Message):
    __slots__ = ("probability", "horizon_days", "method")
    PROBABILITY_FIELD_NUMBER: _ClassVar[int]
    HORIZON_DAYS_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    probability: float
    horizon_days: int
    method: str
    def __init__(self, probability: _Optional[float] = ..., horizon_days: _Optional[int] = ..., method: _Optional[str] = ...) -> None: ...

class NextOrder(_message.Message):
    __slots__ = ("expected_at", "typical_gap_days", "method")
    EXPECTED_AT_FIELD_NUMBER: _ClassVar[int]
    TYPICAL_GAP_DAYS_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    expected_at: _timestamp_pb2.Timestamp
    typical_gap_days: float
    method: str
    def __init__(self, expected_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., typical_gap_days: _Optional[float] = ..., method: _Optional[str] = ...) -> None: ...

class SendTime(_message.Message):
    __slots__ = ("hour_of_week", "fallback", "sends", "responses", "rate")
    HOUR_OF_WEEK_FIELD_NUMBER: _ClassVar[int]
    FALLBACK_FIELD_NUMBER: _ClassVar[int]
    SENDS_FIELD_NUMBER: _ClassVar[int]
    RESPONSES_FIELD_NUMBER: _ClassVar[int]
    RATE_FIELD_NUMBER: _ClassVar[int]
    hour_of_week: int
    fallback: bool
    sends: int
    responses: int
    rate: float
    def __init__(self, hour_of_week: _Optional[int] = ..., fallback: bool = ..., sends: _Optional[int] = ..., responses: _Optional[int] = ..., rate: _Optional[float] = ...) -> None: ...

class Tag(_message.Message):
    __slots__ = ("key", "values")
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    key: str
    values: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, key: _Optional[str] = ..., values: _Optional[_Iterable[str]] = ...) -> None: ...

class CampaignArm(_message.Message):
    __slots__ = ("campaign_id", "arm", "benefit_id", "channel", "start", "end")
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    ARM_FIELD_NUMBER: _ClassVar[int]
    BENEFIT_ID_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    campaign_id: str
    arm: Arm
    benefit_id: str
    channel: Channel
    start: _timestamp_pb2.Timestamp
    end: _timestamp_pb2.Timestamp
    def __init__(self, campaign_id: _Optional[str] = ..., arm: _Optional[_Union[Arm, str]] = ..., benefit_id: _Optional[str] = ..., channel: _Optional[_Union[Channel, str]] = ..., start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Lifecycle(_message.Message):
    __slots__ = ("preset", "layer", "layer_index", "churned", "churn_label")
    PRESET_FIELD_NUMBER: _ClassVar[int]
    LAYER_FIELD_NUMBER: _ClassVar[int]
    LAYER_INDEX_FIELD_NUMBER: _ClassVar[int]
    CHURNED_FIELD_NUMBER: _ClassVar[int]
    CHURN_LABEL_FIELD_NUMBER: _ClassVar[int]
    preset: str
    layer: str
    layer_index: int
    churned: bool
    churn_label: str
    def __init__(self, preset: _Optional[str] = ..., layer: _Optional[str] = ..., layer_index: _Optional[int] = ..., churned: bool = ..., churn_label: _Optional[str] = ...) -> None: ...

class ValueTier(_message.Message):
    __slots__ = ("tier", "recency_score", "frequency_score", "monetary_score", "rfm_segment")
    TIER_FIELD_NUMBER: _ClassVar[int]
    RECENCY_SCORE_FIELD_NUMBER: _ClassVar[int]
    FREQUENCY_SCORE_FIELD_NUMBER: _ClassVar[int]
    MONETARY_SCORE_FIELD_NUMBER: _ClassVar[int]
    RFM_SEGMENT_FIELD_NUMBER: _ClassVar[int]
    tier: Tier
    recency_score: int
    frequency_score: int
    monetary_score: int
    rfm_segment: str
    def __init__(self, tier: _Optional[_Union[Tier, str]] = ..., recency_score: _Optional[int] = ..., frequency_score: _Optional[int] = ..., monetary_score: _Optional[int] = ..., rfm_segment: _Optional[str] = ...) -> None: ...

class LifetimeValue(_message.Message):
    __slots__ = ("predicted_value", "probability_alive", "expected_purchases", "horizon_days", "currency")
    PREDICTED_VALUE_FIELD_NUMBER: _ClassVar[int]
    PROBABILITY_ALIVE_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_PURCHASES_FIELD_NUMBER: _ClassVar[int]
    HORIZON_DAYS_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    predicted_value: float
    probability_alive: float
    expected_purchases: float
    horizon_days: int
    currency: str
    def __init__(self, predicted_value: _Optional[float] = ..., probability_alive: _Optional[float] = ..., expected_purchases: _Optional[float] = ..., horizon_days: _Optional[int] = ..., currency: _Optional[str] = ...) -> None: ...

class Quadrant(_message.Message):
    __slots__ = ("kind", "loyalty_score", "satisfaction_score")
    KIND_FIELD_NUMBER: _ClassVar[int]
    LOYALTY_SCORE_FIELD_NUMBER: _ClassVar[int]
    SATISFACTION_SCORE_FIELD_NUMBER: _ClassVar[int]
    kind: QuadrantKind
    loyalty_score: float
    satisfaction_score: float
    def __init__(self, kind: _Optional[_Union[QuadrantKind, str]] = ..., loyalty_score: _Optional[float] = ..., satisfaction_score: _Optional[float] = ...) -> None: ...

class ChannelScore(_message.Message):
    __slots__ = ("channel", "score", "sends", "responses")
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    SENDS_FIELD_NUMBER: _ClassVar[int]
    RESPONSES_FIELD_NUMBER: _ClassVar[int]
    channel: Channel
    score: float
    sends: int
    responses: int
    def __init__(self, channel: _Optional[_Union[Channel, str]] = ..., score: _Optional[float] = ..., sends: _Optional[int] = ..., responses: _Optional[int] = ...) -> None: ...

class ContactChannel(_message.Message):
    __slots__ = ("best", "scores", "frequency_capped", "not_enough_data")
    BEST_FIELD_NUMBER: _ClassVar[int]
    SCORES_FIELD_NUMBER: _ClassVar[int]
    FREQUENCY_CAPPED_FIELD_NUMBER: _ClassVar[int]
    NOT_ENOUGH_DATA_FIELD_NUMBER: _ClassVar[int]
    best: Channel
    scores: _containers.RepeatedCompositeFieldContainer[ChannelScore]
    frequency_capped: bool
    not_enough_data: bool
    def __init__(self, best: _Optional[_Union[Channel, str]] = ..., scores: _Optional[_Iterable[_Union[ChannelScore, _Mapping]]] = ..., frequency_capped: bool = ..., not_enough_data: bool = ...) -> None: ...

class Benefit(_message.Message):
    __slots__ = ("benefit_id", "kind", "face_value", "currency", "minimum_spend", "expected_incremental_profit", "valid_from", "valid_until", "fairness_required", "policy", "cell", "estimate_low", "estimate_high")
    BENEFIT_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    FACE_VALUE_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    MINIMUM_SPEND_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_INCREMENTAL_PROFIT_FIELD_NUMBER: _ClassVar[int]
    VALID_FROM_FIELD_NUMBER: _ClassVar[int]
    VALID_UNTIL_FIELD_NUMBER: _ClassVar[int]
    FAIRNESS_REQUIRED_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    CELL_FIELD_NUMBER: _ClassVar[int]
    ESTIMATE_LOW_FIELD_NUMBER: _ClassVar[int]
    ESTIMATE_HIGH_FIELD_NUMBER: _ClassVar[int]
    benefit_id: str
    kind: BenefitKind
    face_value: int
    currency: str
    minimum_spend: int
    expected_incremental_profit: float
    valid_from: _timestamp_pb2.Timestamp
    valid_until: _timestamp_pb2.Timestamp
    fairness_required: bool
    policy: str
    cell: str
    estimate_low: float
    estimate_high: float
    def __init__(self, benefit_id: _Optional[str] = ..., kind: _Optional[_Union[BenefitKind, str]] = ..., face_value: _Optional[int] = ..., currency: _Optional[str] = ..., minimum_spend: _Optional[int] = ..., expected_incremental_profit: _Optional[float] = ..., valid_from: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., valid_until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., fairness_required: bool = ..., policy: _Optional[str] = ..., cell: _Optional[str] = ..., estimate_low: _Optional[float] = ..., estimate_high: _Optional[float] = ...) -> None: ...
