//! Generates the contract's Rust code from the workspace's `proto/` folder.
//!
//! protoc comes from the system (Debian's protobuf-compiler, installed by
//! `.ci/run`), so codegen works offline. The descriptor set is kept for gRPC
//! server reflection.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    let protos: Vec<PathBuf> = [
        "strata/v1/profile.proto",
        "strata/v1/profile_service.proto",
        "strata/v1/ingest_service.proto",
        "strata/v1/snapshot.proto",
        "strata/v1/admin_service.proto",
    ]
    .iter()
    .map(|proto| root.join(proto))
    .collect();
    for proto in &protos {
        println!("cargo:rerun-if-changed={}", proto.display());
    }
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    tonic_prost_build::configure()
        .file_descriptor_set_path(out_dir.join("strata_descriptor.bin"))
        .compile_protos(&protos, &[root])?;
    Ok(())
}
