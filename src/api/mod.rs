//! The gRPC contract (generated from `proto/strata/v1`) and every conversion
//! between wire and domain types, kept in one place.

mod convert;
pub mod splice;

pub use convert::{
    benefit_terms, lifecycle_to_wire, quadrant_kind_to_wire, quadrant_to_wire, surface_from_wire,
    tier_to_wire, timestamp_to_nanos, value_tier_to_wire,
};

pub use strata_proto::{FILE_DESCRIPTOR_SET, code_name, field_mask, v1};
