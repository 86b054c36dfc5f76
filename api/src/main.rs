//! The `switchyard` binary: parses the command line and runs the subcommand.

use std::process::ExitCode;

fn main() -> ExitCode {
    api::cli::main()
}
