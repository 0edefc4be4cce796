//! The `eddy` binary; see `eddy --help`.

fn main() -> std::process::ExitCode {
    eddy::cli::main()
}
