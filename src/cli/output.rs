//! How the provisioning commands print: aligned plain-text tables for people, pretty JSON for
//! programs (`--json`), and advice that never mixes into JSON on stdout.

use std::fmt;

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

/// Prints `value` as pretty JSON on stdout.
pub fn json(value: &impl Serialize) {
    // Our output types hold only strings, numbers, options and lists, which always serialise.
    let text = serde_json::to_string_pretty(value).expect("output types serialise to JSON");
    println!("{text}");
}

/// A hint for the person at the keyboard: on stdout with text output, on stderr with `--json`
/// so that stdout stays one JSON document.
pub fn advise(json: bool, text: &str) {
    if json {
        eprintln!("{text}");
    } else {
        println!("{text}");
    }
}

/// `$1.15`.
pub fn dollars(amount: f64) -> String {
    format!("${amount:.2}")
}

#[cfg(test)]
mod tests {
    use super::*;

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
