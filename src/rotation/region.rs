//! `region`: local presence. The best tier first, in the configured order (by default area
//! code, then state or province, then time zone, then any number), and within a tier the least
//! recently used number, or the one with the fewest calls today.

use super::{Ask, Match, Pool, Strategy};
use crate::campaign::TieBreak;

pub struct RegionStrategy {
    tiers: Vec<Match>,
    tie_break: TieBreak,
}

impl RegionStrategy {
    /// `tiers` ends with [`Match::Other`] (the campaign check makes sure), so a usable number is
    /// always found when there is one.
    pub fn new(tiers: Vec<Match>, tie_break: TieBreak) -> RegionStrategy {
        RegionStrategy { tiers, tie_break }
    }
}

impl Strategy for RegionStrategy {
    fn pick(&mut self, pool: &Pool, ask: &Ask<'_>) -> Option<usize> {
        self.tiers.iter().find_map(|&tier| match self.tie_break {
            TieBreak::Lru => pool.least_recent_in(tier, ask.callee, ask.usable),
            TieBreak::LeastUsedToday => pool
                .usable_in(tier, ask.callee, ask.usable)
                .min_by_key(|&i| ((ask.used_today)(pool.phone(i)), pool.last_used(i), i)),
        })
    }
}
