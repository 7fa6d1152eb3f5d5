//! Build script of ofx-bindings. Only the `host` feature needs one: it compiles `src/host/shim.c`, the
//! C-variadic OFX entry points (paramGetValue, message, ...) that stable Rust cannot define.

fn main() {
    #[cfg(feature = "host")]
    {
        println!("cargo:rerun-if-changed=src/host/shim.c");
        cc::Build::new()
            .file("src/host/shim.c")
            .warnings(true)
            .compile("ofx_host_shim");
    }
    println!("cargo:rerun-if-changed=src/host/build.rs");
}
