//! Generates the protocol code from the `.proto` files beside it at build time (never
//! checked in).
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    let protos = [
        "loyalty/v1/cash.proto",
        "loyalty/v1/admin.proto",
        "loyalty/v1/events.proto",
        "loyalty/v1/cluster.proto",
        "loyalty/v1/store.proto",
    ];
    for p in &protos {
        println!("cargo:rerun-if-changed={p}");
    }
    tonic_prost_build::configure()
        .file_descriptor_set_path(out.join("loyalty_descriptor.bin"))
        .compile_protos(&protos, &["."])?;
    Ok(())
}
