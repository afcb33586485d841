//! How the provisioning commands print: aligned plain-text tables for people, pretty JSON for
//! programs (`--json`), and advice that never mixes into JSON on stdout.

use std::fmt;
use std::io::{ErrorKind, Write};

use serde::Serialize;

/// Columns padded to their widest cell; no borders, so the output greps and cuts well.
pub struct Table {
    header: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(header: &[&'static str]) -> Table {
        Table {
            header: header.to_vec(),
            rows: Vec::new(),
        }
    }

    pub fn push(&mut self, row: Vec<String>) {
        self.rows.push(row);
    }

    fn widths(&self) -> Vec<usize> {
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        widths
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let widths = self.widths();
        let header = self
            .header
            .iter()
            .map(|h| h.to_string())
            .collect::<Vec<_>>();
        for row in std::iter::once(&header).chain(&self.rows) {
            let cells: Vec<String> = row
                .iter()
                .zip(&widths)
                .map(|(cell, width)| format!("{cell:<width$}"))
                .collect();
            writeln!(f, "{}", cells.join("  ").trim_end())?;
        }
        Ok(())
    }
}

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
}
