//! The `[health]` section of the campaign file: its defaults, and every value out of range or
//! of the wrong kind refused with the file, the line where it can, the key, and what to write.

use std::path::Path;

use outdial::campaign::{Campaign, ConfigError, Health, Overrides};

fn load(health: &str) -> Result<Campaign, ConfigError> {
    let text = format!("agent = \"agent-1\"\ncontacts = \"contacts.csv\"\n\n[health]\n{health}\n");
    Campaign::from_text(Path::new("spring.toml"), &text, &Overrides::default())
}

/// Without a `[health]` section the defaults hold: on, 150 calls within 21 days,
/// judged from 50, rested 14 days, at most a quarter of the pool, short calls up to 10 s.
#[test]
fn the_defaults_are_the_documented_ones() {
    let text = "agent = \"agent-1\"\ncontacts = \"contacts.csv\"\n";
    let campaign = Campaign::from_text(Path::new("spring.toml"), text, &Overrides::default())
        .expect("a valid campaign");
    let health = campaign.health;
    assert_eq!(health, Health::default());
    assert!(health.enabled);
    assert_eq!(health.window_calls.get(), 150);
    assert_eq!(health.window_days.get(), 21);
    assert_eq!(health.min_calls.get(), 50);
    assert_eq!(health.rest_days.get(), 14);
    assert_eq!(health.max_resting_share, 0.25);
    assert_eq!(health.short_call_seconds, 10);
}

/// Every key is read as written.
#[test]
fn every_key_is_read() {
    let campaign = load(
        "enabled = false\nwindow_calls = 40\nwindow_days = 7\nmin_calls = 10\nrest_days = 3\nmax_resting_share = 0.5\nshort_call_seconds = 5",
    )
    .expect("a valid campaign");
    let health = campaign.health;
    assert!(!health.enabled);
    assert_eq!(
        (
            health.window_calls.get(),
            health.window_days.get(),
            health.min_calls.get(),
            health.rest_days.get(),
            health.short_call_seconds
        ),
        (40, 7, 10, 3, 5)
    );
    assert_eq!(health.max_resting_share, 0.5);
}

/// Each bad value names the file, the key (and its line when it has one) and what to write.
#[test]
fn bad_values_are_refused_with_the_key_and_what_to_write() {
    let cases = [
        ("window_calls = 0", "health.window_calls", "from 1 to"),
        ("window_calls = -5", "health.window_calls", "from 1 to"),
        ("window_calls = 20000", "health.window_calls", "from 1 to"),
        ("window_days = 0", "health.window_days", "from 1 to 365"),
        ("rest_days = 400", "health.rest_days", "from 1 to 365"),
        ("min_calls = 0", "health.min_calls", "from 1 to"),
        (
            "window_calls = 20\nmin_calls = 30",
            "health.min_calls",
            "must not be above health.window_calls",
        ),
        (
            "max_resting_share = 1.5",
            "health.max_resting_share",
            "from 0 to 1",
        ),
        (
            "max_resting_share = -0.1",
            "health.max_resting_share",
            "from 0 to 1",
        ),
        (
            "max_resting_share = nan",
            "health.max_resting_share",
            "from 0 to 1",
        ),
        (
            "short_call_seconds = 0",
            "health.short_call_seconds",
            "from 1 to 600",
        ),
        (
            "short_call_seconds = 601",
            "health.short_call_seconds",
            "from 1 to 600",
        ),
    ];
    for (written, key, advice) in cases {
        let error = load(written).expect_err(written).to_string();
        assert!(error.contains("spring.toml"), "{written}: {error}");
        assert!(error.contains(&format!("`{key}`")), "{written}: {error}");
        assert!(error.contains(advice), "{written}: {error}");
    }
    let error = load("window_calls = 0").unwrap_err().to_string();
    assert!(error.contains("line 5"), "the key's line: {error}");
}

/// A key of the wrong kind or an unknown key is a syntax error that names it.
#[test]
fn wrong_kinds_and_unknown_keys_are_refused() {
    for (written, named) in [
        ("enabled = \"yes\"", "enabled"),
        ("min_calls = 1.5", "min_calls"),
        ("significance = 0.05", "significance"),
    ] {
        let error = load(written).expect_err(written).to_string();
        assert!(error.contains("spring.toml"), "{written}: {error}");
        assert!(error.contains(named), "{written}: {error}");
    }
}
