//! Build script of ofx-host-bindings: compiles `src/shim.c`, the C-variadic OFX entry points
//! (paramGetValue, message, ...) that stable Rust cannot define.

fn main() {
    println!("cargo:rerun-if-changed=src/shim.c");
    println!("cargo:rerun-if-changed=build.rs");
    cc::Build::new()
        .file("src/shim.c")
        .warnings(true)
        .compile("ofx_host_shim");
}
