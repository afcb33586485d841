//! Live progress for people: bars on a terminal (indicatif), plain lines otherwise (logs, CI).

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::journal::StateKind;
use crate::report::Tally;

/// What the dialer tells as it goes.
pub trait Progress: Send + Sync {
    fn update(&self, tally: &Tally);
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
    fn update(&self, _: &Tally) {}
    fn note(&self, _: &str) {}
    fn finish(&self) {}
}

struct Bar(ProgressBar);

impl Bar {
    fn new(total: u64) -> Bar {
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:40.cyan/blue} {pos}/{len} rows  {msg}",
        )
        .expect("the template is valid")
        .progress_chars("=> ");
        bar.set_style(style);
        bar.enable_steady_tick(Duration::from_millis(120));
        Bar(bar)
    }
}

impl Progress for Bar {
    fn update(&self, tally: &Tally) {
        self.0.set_position(tally.settled() + tally.skipped_rows);
        let local = tally
            .local_match_rate()
            .map_or(String::new(), |r| format!(" · {:.0}% local", r * 100.0));
        self.0.set_message(format!(
            "placed {} · uncertain {} · failed {}{local}",
            tally.placed(),
            tally.state(StateKind::Uncertain),
            tally.state(StateKind::Failed)
        ));
    }

    fn note(&self, message: &str) {
        self.0.println(message);
    }

    fn finish(&self) {
        self.0.finish_and_clear();
    }
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
    fn update(&self, tally: &Tally) {
        let mut last = self.last.lock().expect("not poisoned");
        if last.is_some_and(|t| t.elapsed() < Duration::from_secs(2)) {
            return;
        }
        *last = Some(Instant::now());
        say(format_args!(
            "progress: {}/{} rows · placed {} · uncertain {} · failed {}",
            tally.settled() + tally.skipped_rows,
            self.total,
            tally.placed(),
            tally.state(StateKind::Uncertain),
            tally.state(StateKind::Failed)
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
