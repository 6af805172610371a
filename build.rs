//! Generates the gRPC contract's Rust code from `proto/` at build time.
//!
//! protoc comes from the system (Debian's protobuf-compiler, installed by
//! `.ci/run`), so codegen works offline. The descriptor set is kept for gRPC
//! server reflection.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = [
        "proto/strata/v1/profile.proto",
        "proto/strata/v1/profile_service.proto",
        "proto/strata/v1/ingest_service.proto",
        "proto/strata/v1/snapshot.proto",
    ];
    for proto in protos {
        println!("cargo:rerun-if-changed={proto}");
    }
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    tonic_prost_build::configure()
        .file_descriptor_set_path(out_dir.join("strata_descriptor.bin"))
        .compile_protos(&protos, &["proto"])?;
    splicing_profile_server(&out_dir)?;
    Ok(())
}

/// The server side of ProfileService once more, by hand, with one change:
/// BatchGetProfiles answers with `api::splice::EncodedBatchGetProfiles`,
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
                .input_type("crate::api::v1::BatchGetProfilesRequest")
                .output_type("crate::api::splice::EncodedBatchGetProfiles")
                .codec_path(codec)
                .build(),
        )
        .method(
            Method::builder()
                .name("get_offers")
                .route_name("GetOffers")
                .input_type("crate::api::v1::GetOffersRequest")
                .output_type("crate::api::v1::GetOffersResponse")
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
