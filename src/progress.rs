//! Live progress for people: bars on a terminal (indicatif), plain lines otherwise (logs, CI).

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

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
            Display::Auto if std::io::stderr().is_terminal() => Box::new(Bar::new(total_rows)),
            Display::Auto => Box::new(Lines::new(total_rows)),
        }
    }
}

/// No display (tests, `-q`).
pub struct Silent;

impl Progress for Silent {
    fn update(&self, _: &Report) {}
    fn note(&self, _: &str) {}
    fn finish(&self) {}
}

struct Bar(ProgressBar);

impl Bar {
    fn new(total: u64) -> Bar {
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        // `wide_bar` takes what the rest leaves of the terminal's width, so the line fits an
        // 80-column terminal whatever the counts.
        let style = ProgressStyle::with_template("{spinner} {wide_bar} {pos}/{len} {msg}")
            .expect("the template is valid")
            .progress_chars("=> ");
        bar.set_style(style);
        bar.enable_steady_tick(Duration::from_millis(120));
        Bar(bar)
    }
}

impl Progress for Bar {
    fn update(&self, report: &Report) {
        let tally = &report.tally;
        self.0.set_position(tally.settled() + tally.skipped_rows);
        self.0.set_message(pace(report));
    }

    fn note(&self, message: &str) {
        self.0.println(message);
    }

    fn finish(&self) {
        self.0.finish_and_clear();
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

/// One line every few seconds, for logs.
struct Lines {
    total: u64,
    last: Mutex<Option<Instant>>,
}

impl Lines {
    fn new(total: u64) -> Lines {
        Lines {
            total,
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
            "progress: {}/{} rows settled · placed {} · uncertain {} · failed {} · {}",
            tally.settled() + tally.skipped_rows,
            self.total,
            tally.placed(),
            tally.state(StateKind::Uncertain),
            tally.state(StateKind::Failed),
            pace(report)
        ));
    }

    fn note(&self, message: &str) {
        say(message);
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
