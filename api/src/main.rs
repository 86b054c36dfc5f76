//! The `switchyard` binary: parses the command line and runs the subcommand.

use std::process::ExitCode;

/// mimalloc rather than the system allocator: serving GraphQL and running the engine allocate
/// many small, short-lived values (documents, field futures, rows), where glibc's malloc and
/// free took about a quarter of the CPU of a catalog listing under load (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    api::cli::main()
}
