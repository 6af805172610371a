//! The wire contract of strata, generated from `proto/strata/v1`: messages,
//! clients and servers of package `strata.v1`, its descriptor set, and the
//! meaning of a `Profile` field mask ([`field_mask`]).
//!
//! Its own crate so that clients (the `strata-client` crate, the load tester,
//! other teams' services) build the contract without the server, RocksDB or
//! the domain crates.

mod encoded;
pub mod field_mask;

pub use encoded::Encoded;

/// Generated messages, clients and servers of package `strata.v1`.
pub mod v1 {
    #![allow(clippy::all, missing_docs)]
    tonic::include_proto!("strata.v1");
}

/// Encoded `FileDescriptorSet` of the contract, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("strata_descriptor");

/// The `Timestamp` of a Unix time in milliseconds (before 1970 too): the
/// one conversion the job, the CLI and the tests share.
pub fn millis_to_timestamp(millis: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: millis.div_euclid(1000),
        nanos: (millis.rem_euclid(1000) * 1_000_000) as i32,
    }
}

/// The gRPC name of a status code, as in the spec (`UNAVAILABLE`): metric
/// labels and load-test reports use it.
pub fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code;
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}
