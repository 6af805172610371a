//! Generates the server's own code for the contract in `proto/`.
//!
//! The messages, clients and the standard servers live in `crates/strata-proto`
//! (shared with clients); what is generated here is the ProfileService server
//! that answers BatchGetProfiles with spliced bytes, which only the server
//! needs.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The routes and message types below must match the service definition.
    println!("cargo:rerun-if-changed=../../proto/strata/v1/profile_service.proto");
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    splicing_profile_server(&out_dir)
}

/// The server side of ProfileService once more, by hand, with one change:
/// BatchGetProfiles answers with `splice::EncodedBatchGetProfiles`,
/// bytes already in the wire format of `BatchGetProfilesResponse`, so stored
/// profiles are copied into the answer without being decoded and encoded
/// again. Clients keep the generated types; the bytes on the wire are the same.
fn splicing_profile_server(out_dir: &std::path::Path) -> Result<(), Box<dyn std::error::Error>> {
    use tonic_prost_build::manual::{Builder, Method, Service};
    let codec = "tonic_prost::ProstCodec";
    let service = Service::builder()
        .name("ProfileService")
        .package("strata.v1")
        .method(
            Method::builder()
                .name("batch_get_profiles")
                .route_name("BatchGetProfiles")
                .input_type("strata_proto::v1::BatchGetProfilesRequest")
                .output_type("crate::splice::EncodedBatchGetProfiles")
                .codec_path(codec)
                .build(),
        )
        .method(
            Method::builder()
                .name("get_offers")
                .route_name("GetOffers")
                .input_type("strata_proto::v1::GetOffersRequest")
                .output_type("strata_proto::v1::GetOffersResponse")
                .codec_path(codec)
                .build(),
        )
        .build();
    let splice_dir = out_dir.join("splice");
    std::fs::create_dir_all(&splice_dir)?;
    Builder::new()
        .build_client(false)
        .out_dir(&splice_dir)
        .compile(&[service]);
    Ok(())
}
