//! Live progress for people: bars on a terminal (indicatif), plain lines otherwise (logs, CI).

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::journal::StateKind;
use crate::report::{Report, short_duration};

/// What the dialer tells as it goes.
pub trait Progress: Send + Sync {
    /// The figures as they stand; called a few times a second at most.
    fn update(&self, report: &Report);
    /// A sentence worth showing a person (a pause, a retired caller ID, stopping).
    fn note(&self, message: &str);
    fn finish(&self);
}

/// How a run shows its progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Display {
    /// A bar when stderr is a terminal, plain lines otherwise.
    Auto,
    /// Nothing (`-q`, tests, benches).
    Quiet,
}

impl Display {
    pub fn chosen_by(quiet: bool) -> Display {
        if quiet { Display::Quiet } else { Display::Auto }
    }

    /// The progress display for a run over `total_rows` CSV rows.
    pub fn for_rows(self, total_rows: u64) -> Box<dyn Progress> {
        match self {
            Display::Quiet => Box::new(Silent),
            Display::Auto if std::io::stderr().is_terminal() => {
                Box::new(Bar::new(total_rows, String::new(), None))
            }
            Display::Auto => Box::new(Lines::new(total_rows, String::new())),
        }
    }

    /// One display per campaign run side by side, given by name and CSV rows: bars stacked on
    /// a terminal, lines otherwise; each bar, line and note says its campaign.
    pub fn for_campaigns(self, campaigns: &[(&str, u64)]) -> Vec<Box<dyn Progress>> {
        let terminal = self == Display::Auto && std::io::stderr().is_terminal();
        let stack = terminal.then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        campaigns
            .iter()
            .map(|&(name, rows)| -> Box<dyn Progress> {
                let name = format!("[{name}] ");
                match (self, &stack) {
                    (Display::Quiet, _) => Box::new(Silent),
                    (Display::Auto, Some(stack)) => Box::new(Bar::new(rows, name, Some(stack))),
                    (Display::Auto, None) => Box::new(Lines::new(rows, name)),
                }
            })
            .collect()
    }
}

/// No display (tests, `-q`).
pub struct Silent;

impl Progress for Silent {
    fn update(&self, _: &Report) {}
    fn note(&self, _: &str) {}
    fn finish(&self) {}
}

/// A bar, named by its campaign (`[name] `) when several run side by side.
struct Bar {
    bar: ProgressBar,
    name: String,
}

impl Bar {
    /// A bar of its own on stderr, or one in `stack`.
    fn new(total: u64, name: String, stack: Option<&MultiProgress>) -> Bar {
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        let bar = match stack {
            Some(stack) => stack.add(bar),
            None => bar,
        };
        // `wide_bar` takes what the rest leaves of the terminal's width, so the line fits an
        // 80-column terminal whatever the counts.
        let style = ProgressStyle::with_template("{prefix}{spinner} {wide_bar} {pos}/{len} {msg}")
            .expect("the template is valid")
            .progress_chars("=> ");
        bar.set_style(style);
        bar.set_prefix(name.clone());
        bar.enable_steady_tick(Duration::from_millis(120));
        Bar { bar, name }
    }
}

impl Progress for Bar {
    fn update(&self, report: &Report) {
        let tally = &report.tally;
        self.bar.set_position(tally.settled() + tally.skipped_rows);
        self.bar.set_message(pace(report));
    }

    fn note(&self, message: &str) {
        self.bar.println(format!("{}{message}", self.name));
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// `4 live · 12.5 calls/s · ETA 3m 05s`: the run's pace in a few words.
fn pace(report: &Report) -> String {
    let Some(run) = &report.run else {
        return String::new();
    };
    let eta = report
        .remaining()
        .and_then(|left| run.eta(left))
        .map_or(String::new(), |eta| {
            format!(" · ETA {}", short_duration(eta))
        });
    format!("{} live · {}{eta}", run.live_calls, run.pace())
}

/// One line every few seconds, for logs; named by its campaign (`[name] `) when several run
/// side by side.
struct Lines {
    total: u64,
    name: String,
    last: Mutex<Option<Instant>>,
}

impl Lines {
    fn new(total: u64, name: String) -> Lines {
        Lines {
            total,
            name,
            last: Mutex::new(None),
        }
    }
}

impl Progress for Lines {
    fn update(&self, report: &Report) {
        let mut last = self.last.lock().expect("not poisoned");
        if last.is_some_and(|t| t.elapsed() < Duration::from_secs(2)) {
            return;
        }
        *last = Some(Instant::now());
        let tally = &report.tally;
        say(format_args!(
            "{}progress: {}/{} rows settled · placed {} · uncertain {} · failed {} · {}",
            self.name,
            tally.settled() + tally.skipped_rows,
            self.total,
            tally.placed(),
            tally.state(StateKind::Uncertain),
            tally.state(StateKind::Failed),
            pace(report)
        ));
    }

    fn note(&self, message: &str) {
        say(format_args!("{}{message}", self.name));
    }

    fn finish(&self) {}
}

/// One line on stderr; a closed stderr (`2>&- `, a reader gone) must not panic the run the way
/// `eprintln!` would, as the journal and the exit code matter more than the line.
fn say(line: impl std::fmt::Display) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Phase, RunFigures, Tally};

    /// The bar's line fits 80 columns at the largest figures a run can show: the counts and the
    /// message leave room for the spinner and a bar of at least ten columns.
    #[test]
    fn the_bar_line_leaves_room_for_a_bar_in_80_columns() {
        let rows = 99_999_999;
        let mut report = Report::new(
            "c",
            Phase::Running,
            Tally::default(),
            jiff::Timestamp::UNIX_EPOCH,
        );
        report.rows_in_file = Some(rows);
        report.run = Some(RunFigures {
            elapsed: Duration::from_secs(1),
            live_calls: 1000,
            calls: 999_999,
            settled: 1,
        });
        let message = pace(&report);
        assert!(message.contains("ETA"), "{message}");
        let rest = format!("{rows}/{rows} {message}");
        assert!(
            2 + rest.chars().count() + 10 <= 80,
            "{} columns: {rest}",
            rest.chars().count()
        );
    }
}
