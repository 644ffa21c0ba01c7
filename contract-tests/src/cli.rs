//! What the subcommands share at their edges: the values of `--profile`,
//! the usage error (exit code 2), and a report written as asked with the
//! exit code of its verdict. `run`, `verify-client` and `proxy` end alike.

use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;

use contract::profile::Profile;

use crate::report::Format;

/// `println!` for the commands' output, except that a closed stdout
/// (`contract-tests schemas | head -1`, a parent that went away) is not a
/// panic: the line is dropped and the command goes on to its verdict, and
/// the proxy keeps serving.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// Exit code of a usage error.
pub const USAGE: u8 = 2;

/// The values of `--profile`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProfileArg {
    /// What the vendor documents (tolerances in docs/contract-tests.md).
    Vendor,
    /// The vendor's promises plus this fake's own (schemas/, exact statuses).
    Strict,
}

impl From<ProfileArg> for Profile {
    fn from(p: ProfileArg) -> Self {
        match p {
            ProfileArg::Vendor => Profile::Vendor,
            ProfileArg::Strict => Profile::Strict,
        }
    }
}

/// Says what is wrong with the command line (or the files it names) and
/// gives the usage error's exit code.
pub fn usage(msg: &str) -> ExitCode {
    eprintln!("contract-tests: {msg}");
    ExitCode::from(USAGE)
}

/// Writes a report as asked: `rendered` in `format` to `output` and the
/// text to stdout, or without `output` `rendered` in `format` to stdout;
/// then the exit code of its verdict (1 when something `failed`).
pub fn emit(rendered: impl Fn(Format) -> String, failed: bool, format: Format, output: Option<&Path>) -> ExitCode {
    match output {
        Some(path) => {
            if let Err(e) = std::fs::write(path, rendered(format)) {
                return usage(&format!("cannot write {}: {e}", path.display()));
            }
            let _ = write!(std::io::stdout().lock(), "{}", rendered(Format::Text));
        }
        None => {
            let _ = write!(std::io::stdout().lock(), "{}", rendered(format));
        }
    }
    let _ = std::io::stdout().flush();
    if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}
