//! How the provisioning commands print: aligned plain-text tables for people, pretty JSON for
//! programs (`--json`), and advice that never mixes into JSON on stdout.

use std::fmt;
use std::io::{ErrorKind, Write};

use serde::Serialize;

pub use crate::table::Table;

/// Writes `text` to stdout as is. A reader that went away (`| head`) is not a failure: it has
/// what it wanted, so the rest is dropped instead of panicking the way `print!` does.
pub fn text(text: impl fmt::Display) {
    let mut stdout = std::io::stdout().lock();
    match write!(stdout, "{text}").and_then(|()| stdout.flush()) {
        Err(error) if error.kind() != ErrorKind::BrokenPipe => {
            warn(format_args!("warning: cannot write to stdout: {error}"));
        }
        _ => {}
    }
}

/// A line for the person at the keyboard on stderr. A closed stderr is no reason to fail or
/// panic (as `eprintln!` does): the run's work and exit code matter more than the message.
pub fn warn(line: impl fmt::Display) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// [`text`] and a newline.
pub fn line(line: impl fmt::Display) {
    text(format_args!("{line}\n"));
}

/// Prints `value` as pretty JSON on stdout.
pub fn json(value: &impl Serialize) {
    // Our output types hold only strings, numbers, options and lists, which always serialise.
    let json = serde_json::to_string_pretty(value).expect("output types serialise to JSON");
    line(json);
}

/// A hint for the person at the keyboard: on stdout with text output, on stderr with `--json`
/// so that stdout stays one JSON document.
pub fn advise(json: bool, hint: &str) {
    if json {
        warn(hint);
    } else {
        line(hint);
    }
}

/// Asks `question` on the terminal; true for `yes`. Without a terminal there is nobody to ask,
/// so the action is refused with `refusal` (exit 2) rather than assumed: a script must say
/// `--yes`.
pub fn confirm(question: &str, refusal: String) -> Result<bool, crate::error::Error> {
    use std::io::{BufRead, IsTerminal};
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(crate::error::Error::Usage(refusal));
    }
    eprint!("{question}");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    stdin
        .lock()
        .read_line(&mut answer)
        .map_err(|source| crate::error::Error::Io {
            context: "cannot read the confirmation".into(),
            source,
        })?;
    Ok(answer.trim().eq_ignore_ascii_case("yes"))
}

/// `$1.15`.
pub fn dollars(amount: f64) -> String {
    format!("${amount:.2}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Columns line up under their headers, and an empty last cell leaves no trailing spaces.
    #[test]
    fn tables_align_columns_and_trim_line_ends() {
        let mut table = Table::new(&["NUMBER", "PLACE"]);
        table.push(vec!["+14155550102".into(), "San Francisco, CA".into()]);
        table.push(vec!["+18005550100".into(), String::new()]);
        assert_eq!(
            table.to_string(),
            "NUMBER        PLACE\n+14155550102  San Francisco, CA\n+18005550100\n"
        );
    }

    /// Width is counted in columns on screen, not bytes: accented and wide names line up.
    #[test]
    fn tables_align_by_display_width() {
        let mut table = Table::new(&["CITY", "N"]);
        table.push(vec!["São Paulo".into(), "1".into()]);
        table.push(vec!["東京".into(), "22".into()]);
        table.align_right(1);
        assert_eq!(
            table.to_string(),
            "CITY        N\nSão Paulo   1\n東京       22\n"
        );
    }
}
