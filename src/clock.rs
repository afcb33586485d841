//! The time the dialer, its rules and the plan read. It is passed in rather than read from the
//! system in each place, so that a test can run a whole campaign at noon UTC whatever the hour
//! of the machine (no test skips near midnight), `plan` and `run` read one clock each, and
//! `simulate` plays days of calling on a virtual clock with the same dialer code.

use std::time::{Instant, SystemTime};

use jiff::{SignedDuration, Timestamp};

/// A source of the current instant.
#[derive(Debug, Clone, Copy)]
pub enum Clock {
    /// The machine's clock: production.
    System,
    /// Starts at `start` when made and moves at the machine's pace from there: the instants a
    /// run sees are those of a chosen day, while its sleeps and timeouts stay real.
    Shifted { start: Timestamp, made: Instant },
    /// The async runtime's own clock, paused (tokio's `start_paused`), from `start`: time moves
    /// only when every task waits on a timer, and then straight to the earliest, so days of
    /// calling play in seconds (`outdial simulate`). Work the dialer would hand to a thread runs
    /// in line under it, since a thread's work would either hold time still or let it jump.
    Virtual {
        start: Timestamp,
        made: tokio::time::Instant,
    },
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

    /// A clock that reads `start` now and moves with the runtime's (paused) clock. Made inside
    /// the runtime whose clock it follows.
    pub fn virtual_from(start: Timestamp) -> Clock {
        Clock::Virtual {
            start,
            made: tokio::time::Instant::now(),
        }
    }

    pub fn now(&self) -> Timestamp {
        match self {
            Clock::System => Timestamp::now(),
            Clock::Shifted { start, made } => after(*start, made.elapsed()),
            Clock::Virtual { start, made } => after(*start, made.elapsed()),
            Clock::Fixed(at) => *at,
        }
    }

    /// The current instant as the standard library's type (HTTP dates are read against it).
    pub fn now_system(&self) -> SystemTime {
        SystemTime::from(self.now())
    }

    /// Whether time is the runtime's paused clock, so blocking work must run in line.
    pub fn is_virtual(&self) -> bool {
        matches!(self, Clock::Virtual { .. })
    }
}

/// `start` moved on by `elapsed`, saturating at the end of time.
fn after(start: Timestamp, elapsed: std::time::Duration) -> Timestamp {
    let elapsed = SignedDuration::try_from(elapsed).unwrap_or(SignedDuration::MAX);
    start.saturating_add(elapsed).unwrap_or(start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_virtual_clock_moves_with_the_runtime_not_the_machine() {
        let start: Timestamp = "2026-12-07T09:00:00Z".parse().unwrap();
        let clock = Clock::virtual_from(start);
        assert_eq!(clock.now(), start);
        let three_days = std::time::Duration::from_secs(3 * 86_400);
        tokio::time::sleep(three_days).await;
        let moved = clock.now().duration_since(start);
        assert!(
            moved >= SignedDuration::from_hours(72)
                && moved < SignedDuration::from_hours(72) + SignedDuration::from_millis(2),
            "{moved:?}"
        );
        assert!(clock.is_virtual() && !Clock::System.is_virtual());
    }
}
