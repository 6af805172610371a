//! The gRPC contract (generated from `proto/strata/v1`) and every conversion
//! between wire and domain types, kept in one place.

mod convert;
pub mod field_mask;
pub mod splice;

pub use convert::{surface_from_wire, timestamp_to_nanos};

/// Generated messages, clients and servers of package `strata.v1`.
pub mod v1 {
    #![allow(clippy::all, missing_docs)]
    tonic::include_proto!("strata.v1");
}

/// Encoded `FileDescriptorSet` of the contract, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("strata_descriptor");
