//! The `rollcall` binary: the command line (`cli`), over the library's public API only.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    cli::main()
}
