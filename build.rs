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
    Ok(())
}
