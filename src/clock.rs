//! The time the dialer, its rules and the plan read. It is passed in rather than read from the
//! system in each place, so that a test can run a whole campaign at noon UTC whatever the hour
//! of the machine (no test skips near midnight), and `plan` and `run` read one clock each.

use std::time::Instant;

use jiff::{SignedDuration, Timestamp};

/// A source of the current instant.
#[derive(Debug, Clone, Copy)]
pub enum Clock {
    /// The machine's clock: production.
    System,
    /// Starts at `start` when made and moves at the machine's pace from there: the instants a
    /// run sees are those of a chosen day, while its sleeps and timeouts stay real.
    Shifted { start: Timestamp, made: Instant },
    /// Always the same instant (a plan or a check "as seen at" a moment).
    Fixed(Timestamp),
}

impl Clock {
    /// A clock that reads `start` now and moves on in real time.
    pub fn starting_at(start: Timestamp) -> Clock {
        Clock::Shifted {
            start,
            made: Instant::now(),
        }
    }

    pub fn now(&self) -> Timestamp {
        match self {
            Clock::System => Timestamp::now(),
            Clock::Shifted { start, made } => {
                let elapsed =
                    SignedDuration::try_from(made.elapsed()).unwrap_or(SignedDuration::MAX);
                start.saturating_add(elapsed).unwrap_or(*start)
            }
            Clock::Fixed(at) => *at,
        }
    }
}
