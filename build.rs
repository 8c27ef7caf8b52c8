//! Compiles the protobuf service the gRPC tests and examples use (`tests/proto/`), and only
//! with the `tonic` feature: the library itself has no generated code, so a default build runs
//! this script as an empty `main` and pulls in no protobuf tooling. protox is a protobuf
//! compiler in Rust, so no `protoc` needs installing. The code is written to `OUT_DIR`, where
//! `tonic::include_proto!` finds it from tests and examples.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    #[cfg(feature = "tonic")]
    compile_test_protos();
}

#[cfg(feature = "tonic")]
fn compile_test_protos() {
    println!("cargo:rerun-if-changed=tests/proto");
    let descriptors = match protox::compile(["tests/proto/echo.proto"], ["tests/proto"]) {
        Ok(descriptors) => descriptors,
        Err(error) => panic!("tests/proto/echo.proto: {error}"),
    };
    if let Err(error) = tonic_prost_build::configure().compile_fds(descriptors) {
        panic!("generating the gRPC test service: {error}");
    }
}
