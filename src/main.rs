//! The `eddy` binary; see `eddy --help`.

/// Rows are many small allocations; see the `mimalloc` note in Cargo.toml.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    eddy::cli::main()
}
