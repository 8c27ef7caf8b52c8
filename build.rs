//! Compiles the protobuf service the gRPC tests and example use (`tests/proto/`), and only with
//! the `grpc-test-protos` feature (this repository's tests; `--all-features` turns it on): the
//! library itself has no generated code, so any other build, with `tonic` or without, runs this
//! script as an empty `main` and compiles no protobuf tooling. protox is a protobuf
//! compiler in Rust, so no `protoc` needs installing. The code is written to `OUT_DIR`, where
//! `tonic::include_proto!` finds it from tests and examples.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    #[cfg(feature = "grpc-test-protos")]
    compile_test_protos();
}

#[cfg(feature = "grpc-test-protos")]
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
