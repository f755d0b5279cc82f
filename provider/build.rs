//! Compiles the protocol definitions in `proto/` with protox (pure Rust), so building the
//! provider never needs a system `protoc`.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../proto");
    let files = ["tfplugin5.proto", "plugin.proto"];
    for f in &files {
        println!("cargo:rerun-if-changed={proto_dir}/{f}");
    }
    let fds = protox::compile(files, [proto_dir])?;
    tonic_prost_build::configure()
        .build_server(true)
        // Clients are generated too: the in-process tests speak to the server through them.
        .build_client(true)
        .generate_default_stubs(true)
        .compile_fds(fds)?;
    Ok(())
}
