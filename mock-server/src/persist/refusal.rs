//! Why a data dir cannot be used, said in one line: a start on a damaged,
//! foreign, locked or unwritable data dir ends with that line on stderr and
//! exit code [`EXIT_CODE`], never a panic or a backtrace.
//!
//! redb answers most damage with an error, but asserts on some (a file cut
//! short panics inside its page manager): [`quietly`] turns such a panic
//! into the same kind of line, without the default hook's report.

use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::Once;

/// The exit code of a start refused because of its data dir (1 is any other
/// failed start, 2 a flag clap refused).
pub const EXIT_CODE: u8 = 3;

/// What every refusal starts with: how `main` tells one from other errors.
const PREFIX: &str = "--data-dir ";

/// What a person can do about a database file that cannot be read.
const DAMAGED: &str =
    "the file is damaged or is not a mock-server database: move it away to start empty, or start on another --data-dir";

/// The one line for data dir `dir`: `why`, on one line.
pub fn line(dir: &Path, why: &str) -> String {
    let why: String = why.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    format!("{PREFIX}{}: {why}", dir.display())
}

/// The line for a database file `file` that cannot be read (`cause`).
pub fn damaged(dir: &Path, file: &Path, cause: &str) -> String {
    line(dir, &format!("cannot read {} ({cause}): {DAMAGED}", file.display()))
}

/// Whether `error` (from the start) is a refusal of the data dir.
pub fn is_refusal(error: &str) -> bool {
    error.starts_with(PREFIX)
}

thread_local! {
    /// A panic on this thread is [`quietly`]'s to report.
    static QUIET: Cell<bool> = const { Cell::new(false) };
}

static HOOK: Once = Once::new();

/// Runs `f` (opening or reading the database), turning a panic inside it
/// into `Err(on_panic(message))`, without the panic report on stderr.
pub fn quietly<R>(f: impl FnOnce() -> Result<R, String>, on_panic: impl FnOnce(&str) -> String) -> Result<R, String> {
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.with(Cell::get) {
                previous(info);
            }
        }));
    });
    QUIET.with(|q| q.set(true));
    let out = catch_unwind(AssertUnwindSafe(f));
    QUIET.with(|q| q.set(false));
    out.unwrap_or_else(|panic| {
        let message = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic".to_owned());
        Err(on_panic(&message))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_one_line_and_an_error_stays_as_it_is() {
        let dir = Path::new("/d");
        let got: Result<(), String> = quietly(
            || panic!("assertion failed:\nshort"),
            |m| damaged(dir, &dir.join("f.redb"), m),
        );
        let line = got.expect_err("the panic is an error");
        assert!(is_refusal(&line), "{line}");
        assert!(!line.contains('\n'), "{line}");
        assert!(line.contains("/d/f.redb") && line.contains("move it away"), "{line}");
        let err: Result<(), String> = quietly(|| Err("plain".into()), |_| unreachable!());
        assert_eq!(err, Err("plain".to_owned()));
    }
}
