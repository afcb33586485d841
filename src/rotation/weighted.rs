//! `weighted`: performance-weighted choice by Thompson sampling. Within the best tier that has
//! a usable number (the `region` order), each usable number draws a connection rate from
//! Beta(1 + connected, 1 + not connected) over its latest [`REMEMBERED`] ended attempts, and
//! the highest draw is called. Numbers that reach people get more calls, a number going bad
//! gets fewer well before number health rests it, and a number with little history still gets
//! tried (its wide Beta sometimes draws high). Draws come from a seeded generator, so a run (and
//! `simulate`) with the same seed and history makes the same choices.

use std::collections::VecDeque;

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Beta, Distribution};

use super::{Ask, Match, Pool, Strategy};

/// Ended attempts remembered per number: the number-health window's default (150), so the
/// weights follow what the number does now, not what it did weeks ago.
pub const REMEMBERED: usize = 150;

pub struct Weighted {
    tiers: Vec<Match>,
    rng: StdRng,
    /// Per pool index: its latest outcomes, newest last (true: connected).
    outcomes: Vec<VecDeque<bool>>,
}

impl Weighted {
    pub fn new(tiers: Vec<Match>, seed: u64) -> Weighted {
        Weighted {
            tiers,
            rng: StdRng::seed_from_u64(seed),
            outcomes: Vec::new(),
        }
    }

    /// A draw of the number's connection rate from its posterior.
    fn draw(&mut self, index: usize) -> f64 {
        let (connected, ended) = self.outcomes.get(index).map_or((0, 0), |seen| {
            (seen.iter().filter(|c| **c).count(), seen.len())
        });
        let alpha = 1.0 + connected as f64;
        let beta = 1.0 + (ended - connected) as f64;
        // Both parameters are at least 1, which Beta always accepts.
        Beta::new(alpha, beta).map_or(0.5, |beta| beta.sample(&mut self.rng))
    }
}

impl Strategy for Weighted {
    fn pick(&mut self, pool: &Pool, ask: &Ask<'_>) -> Option<usize> {
        let tier = self
            .tiers
            .iter()
            .copied()
            .find(|&tier| pool.least_recent_in(tier, ask.callee, ask.usable).is_some())?;
        let mut candidates: Vec<usize> = pool.usable_in(tier, ask.callee, ask.usable).collect();
        candidates.sort_unstable();
        candidates.dedup();
        let mut best: Option<(f64, usize)> = None;
        for index in candidates {
            let draw = self.draw(index);
            if best.is_none_or(|(top, _)| draw > top) {
                best = Some((draw, index));
            }
        }
        best.map(|(_, index)| index)
    }

    fn learn(&mut self, index: usize, connected: bool) {
        if self.outcomes.len() <= index {
            self.outcomes.resize_with(index + 1, VecDeque::new);
        }
        let seen = &mut self.outcomes[index];
        if seen.len() == REMEMBERED {
            seen.pop_front();
        }
        seen.push_back(connected);
    }
}
