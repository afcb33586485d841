//! Plain-text tables for people: `status`, `plan`, `numbers list` and the end-of-run summary.

use std::fmt;

/// Columns padded to their widest cell (comfy-table, measuring display width, so accents and
/// wide characters line up); no borders, so the output greps and cuts well.
pub struct Table(comfy_table::Table);

impl Table {
    pub fn new(header: &[&'static str]) -> Table {
        let mut table = comfy_table::Table::new();
        table
            .load_style(comfy_table::presets::NOTHING)
            // Never wrapped to a terminal's width: a row stays one line for grep and cut.
            .set_content_arrangement(comfy_table::ContentArrangement::Disabled)
            .set_header(header.to_vec());
        for column in table.column_iter_mut() {
            column.set_padding((0, 2));
        }
        Table(table)
    }

    pub fn push(&mut self, row: Vec<String>) {
        self.0.add_row(row);
    }

    /// Right-aligns a column of figures (0-based).
    pub fn align_right(&mut self, column: usize) {
        if let Some(column) = self.0.column_mut(column) {
            column.set_cell_alignment(comfy_table::CellAlignment::Right);
        }
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Padding leaves spaces after the last column; a line ends at its last character.
        for line in self.0.lines() {
            writeln!(f, "{}", line.trim_end())?;
        }
        Ok(())
    }
}
