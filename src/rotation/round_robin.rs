//! `round-robin`: the pool in its order, each call from the next usable number after the one
//! used last (whoever chose it).

use super::{Ask, Pool, Strategy};

#[derive(Default)]
pub struct RoundRobin {
    /// Where the next search starts: just after the number used last.
    cursor: usize,
}

impl Strategy for RoundRobin {
    fn pick(&mut self, pool: &Pool, ask: &Ask<'_>) -> Option<usize> {
        let len = pool.len();
        (0..len)
            .map(|step| (self.cursor + step) % len)
            .find(|&i| (ask.usable)(i))
    }

    fn used(&mut self, index: usize) {
        self.cursor = index + 1;
    }
}
