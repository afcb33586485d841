//! The bad-input corpus: each malformed campaign file, contacts file or journal directory ends
//! `outdial run` with exit 2 and a message naming the file and the line or key, and not one
//! request reaches the sandbox.

mod common;

use common::{Scenario, Settings, csv_of, numbers_in};

/// What a case does to an otherwise valid campaign.
enum Break {
    /// Replace `from` with `to` in campaign.toml.
    Campaign(&'static str, &'static str),
    /// Write these bytes as contacts.csv.
    Contacts(Vec<u8>),
    /// Write these bytes as campaign.toml.
    CampaignBytes(Vec<u8>),
    /// Put a file into the journal directory before the run.
    JournalFile(&'static str, Vec<u8>),
    /// Remove an environment variable.
    NoEnv(&'static str),
    /// Set an environment variable.
    Env(&'static str, &'static str),
    /// Replace `from` with a built text in campaign.toml.
    CampaignText(&'static str, String),
}

struct Case {
    name: &'static str,
    broken: Break,
    /// Every fragment must appear in stderr.
    says: &'static [&'static str],
}

/// `days = ["mon"]` and every Monday from last week to beyond the calling-hours horizon a holiday.
fn every_monday_a_holiday() -> String {
    let today = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    let mondays: Vec<String> = today
        .checked_sub(jiff::Span::new().days(14))
        .unwrap()
        .series(jiff::Span::new().days(1))
        .take(440)
        .filter(|d| d.weekday() == jiff::civil::Weekday::Monday)
        .map(|d| format!("\"{d}\""))
        .collect();
    format!("days = [\"mon\"]\nholidays = [{}]\n#", mondays.join(", "))
}

fn corpus() -> Vec<Case> {
    use Break::*;
    let ten_megabytes = format!(
        "phone,name,notes\n+12125550199,A,{}\n",
        "x".repeat(10 << 20)
    )
    .into_bytes();
    vec![
        Case {
            name: "TOML syntax",
            broken: Campaign("name = \"test-campaign\"", "name = \"test-campaign"),
            says: &["campaign.toml", "line 1"],
        },
        Case {
            name: "unknown top-level key",
            broken: Campaign("contacts =", "agnet = \"x\"\ncontacts ="),
            says: &["campaign.toml", "agnet", "line 3"],
        },
        Case {
            name: "unknown key in a table",
            broken: Campaign("max_live_calls", "max_live_cals"),
            says: &["campaign.toml", "max_live_cals", "line 10"],
        },
        Case {
            name: "wrong type",
            broken: Campaign("calls_per_second = 500", "calls_per_second = \"fast\""),
            says: &["campaign.toml", "line 9", "f64"],
        },
        Case {
            name: "zero rate",
            broken: Campaign("calls_per_second = 500", "calls_per_second = 0.0"),
            says: &["campaign.toml", "line 9", "pacing.calls_per_second"],
        },
        Case {
            name: "negative rate",
            broken: Campaign("calls_per_second = 500", "calls_per_second = -2.5"),
            says: &["line 9", "pacing.calls_per_second"],
        },
        Case {
            name: "zero live calls",
            broken: Campaign("max_live_calls = 16", "max_live_calls = 0"),
            says: &["line 10", "pacing.max_live_calls"],
        },
        Case {
            name: "negative attempts",
            broken: Campaign("[retry]", "[retry]\nmax_attempts = -1"),
            says: &["retry.max_attempts"],
        },
        Case {
            name: "missing required key",
            broken: Campaign("agent = \"agent-under-test\"", ""),
            says: &["campaign.toml", "agent"],
        },
        Case {
            name: "empty agent",
            broken: Campaign("agent = \"agent-under-test\"", "agent = \"  \""),
            says: &["line 2", "agent", "empty"],
        },
        Case {
            name: "unknown strategy",
            broken: Campaign("strategy = \"region\"", "strategy = \"random\""),
            says: &["campaign.toml", "random"],
        },
        Case {
            name: "bad window time",
            broken: Campaign("start = \"00:00\"", "start = \"9am\""),
            says: &["window.start", "9am"],
        },
        Case {
            name: "window ends before it starts",
            broken: Campaign("end = \"23:59\"", "end = \"00:00\""),
            says: &["window.end"],
        },
        Case {
            name: "unknown weekday",
            broken: Campaign("\"sun\"]", "\"funday\"]"),
            says: &["window.days", "funday"],
        },
        Case {
            name: "a weekday name that only starts like one",
            broken: Campaign("\"sun\"]", "\"monkey\"]"),
            says: &["window.days", "monkey", "\"mon\"", "\"sun\""],
        },
        Case {
            name: "no calling days",
            broken: Campaign("days = [", "days = []\n#"),
            says: &["window.days", "empty"],
        },
        Case {
            name: "a window that opens and closes at once",
            broken: Campaign("end = \"23:59\"", "end = \"00:00\"\n#"),
            says: &["window.end", "later than window.start"],
        },
        Case {
            name: "every calling day a holiday",
            broken: CampaignText("days = [", every_monday_a_holiday()),
            says: &["window.holidays", "every calling day"],
        },
        Case {
            name: "a rate of one call in 10^20 seconds",
            broken: Campaign("calls_per_second = 500", "calls_per_second = 1e-20"),
            says: &["line 9", "pacing.calls_per_second", "one call a day"],
        },
        Case {
            name: "a rate beyond any account",
            broken: Campaign("calls_per_second = 500", "calls_per_second = 1e300"),
            says: &["line 9", "pacing.calls_per_second", "1000000"],
        },
        Case {
            name: "no reads at all",
            broken: Campaign("reads_per_second = 50", "reads_per_second = 0"),
            says: &["line 11", "pacing.reads_per_second", "0.1"],
        },
        Case {
            name: "reads beyond any account",
            broken: Campaign("reads_per_second = 50", "reads_per_second = 1e300"),
            says: &["line 11", "pacing.reads_per_second", "1000000"],
        },
        Case {
            name: "a read rate that is not a number",
            broken: Campaign("reads_per_second = 50", "reads_per_second = nan"),
            says: &["line 11", "pacing.reads_per_second"],
        },
        Case {
            name: "a rate that is not a number",
            broken: Campaign("calls_per_second = 500", "calls_per_second = nan"),
            says: &["line 9", "pacing.calls_per_second"],
        },
        Case {
            name: "a redial 2^62 minutes later",
            broken: Campaign(
                "[retry]",
                "[retry]\nredial_after_minutes = 4611686018427387904",
            ),
            says: &["retry.redial_after_minutes", "from 0 to 43200"],
        },
        Case {
            name: "more live calls than any account allows",
            broken: Campaign("max_live_calls = 16", "max_live_calls = 4294967295"),
            says: &["line 10", "pacing.max_live_calls", "from 1 to 1000"],
        },
        Case {
            name: "a reconcile grace of centuries",
            broken: Campaign(
                "reconcile_grace_seconds = 1",
                "reconcile_grace_seconds = 9223372036854775807",
            ),
            says: &["retry.reconcile_grace_seconds", "from 0 to 3600"],
        },
        Case {
            name: "a gap per number longer than a day",
            broken: Campaign(
                "strategy = \"region\"",
                "strategy = \"region\"\nmin_seconds_between_calls_per_number = 99999999999",
            ),
            says: &[
                "rotation.min_seconds_between_calls_per_number",
                "from 0 to 86400",
            ],
        },
        Case {
            name: "a user and password in the base URL",
            broken: CampaignText(
                "base_url = \"http://",
                "base_url = \"http://ops:hunter2@".to_owned(),
            ),
            says: &["api.base_url", "user:pass@", "api.key_env"],
        },
        Case {
            name: "an API key with a newline",
            broken: Env("SYNTHFLOW_API_KEY", "test-key\nX-Injected: 1"),
            says: &["SYNTHFLOW_API_KEY", "control character"],
        },
        Case {
            name: "an API key with a tab inside",
            broken: Env("SYNTHFLOW_API_KEY", "test\tkey"),
            says: &["SYNTHFLOW_API_KEY", "control character"],
        },
        Case {
            name: "an unknown choice for callees without a zone",
            broken: Campaign(
                "start = \"00:00\"",
                "unknown_zone = \"guess\"\nstart = \"00:00\"",
            ),
            says: &["campaign.toml", "guess", "fallback"],
        },
        Case {
            name: "bad holiday",
            broken: Campaign("days = [", "holidays = [\"christmas\"]\ndays = ["),
            says: &["window.holidays", "christmas"],
        },
        Case {
            name: "bad default country",
            broken: Campaign("contacts =", "default_country = \"XX\"\ncontacts ="),
            says: &["default_country", "XX"],
        },
        Case {
            name: "bad pool number",
            broken: Campaign(
                "strategy = \"region\"",
                "strategy = \"region\"\nnumbers = [\"12\"]",
            ),
            says: &["rotation.numbers"],
        },
        Case {
            name: "tiers that never reach any number",
            broken: Campaign(
                "strategy = \"region\"",
                "strategy = \"region\"\ntiers = [\"area_code\", \"state\"]",
            ),
            says: &["rotation.tiers", "must end with \"any\""],
        },
        Case {
            name: "an unknown tier",
            broken: Campaign(
                "strategy = \"region\"",
                "strategy = \"region\"\ntiers = [\"zip\", \"any\"]",
            ),
            says: &["rotation.tiers", "zip", "area_code, state, time_zone"],
        },
        Case {
            name: "one A/B arm",
            broken: Campaign(
                "strategy = \"region\"",
                "strategy = \"region\"\narms = [\"weighted\"]",
            ),
            says: &["rotation.arms", "two or more"],
        },
        Case {
            name: "journal name that escapes",
            broken: Campaign("name = \"test-campaign\"", "name = \"../elsewhere\""),
            says: &["line 1", "name"],
        },
        Case {
            name: "http to a remote host",
            broken: Campaign(
                "base_url = \"",
                "base_url = \"http://api.example.com/v2\"\n# \"",
            ),
            says: &["campaign.toml", "api.base_url", "only https"],
        },
        Case {
            name: "missing contacts file",
            broken: Campaign("contacts = \"contacts.csv\"", "contacts = \"nope.csv\""),
            says: &["nope.csv"],
        },
        Case {
            name: "missing key variable",
            broken: Campaign("[api]\n", "[api]\nkey_env = \"NO_SUCH_OUTDIAL_KEY\"\n"),
            says: &["NO_SUCH_OUTDIAL_KEY", "campaign.toml"],
        },
        Case {
            name: "key variable unset",
            broken: NoEnv("SYNTHFLOW_API_KEY"),
            says: &["SYNTHFLOW_API_KEY"],
        },
        Case {
            name: "campaign file not UTF-8",
            broken: CampaignBytes(b"name = \"caf\xe9\"\n".to_vec()),
            says: &["campaign.toml", "UTF-8"],
        },
        Case {
            name: "contacts not UTF-8",
            broken: Contacts(b"phone,name\n+12125550199,Caf\xe9\n".to_vec()),
            says: &["contacts.csv", "line 2", "UTF-8"],
        },
        Case {
            name: "unterminated quote",
            broken: Contacts(b"phone,name\n+12125550199,\"Ada\n+12125550198,Bob\n".to_vec()),
            says: &["contacts.csv", "line 2", "never closed"],
        },
        Case {
            name: "no phone column",
            broken: Contacts(b"name,email\nAda,a@example.com\n".to_vec()),
            says: &["contacts.csv", "line 1", "phone"],
        },
        Case {
            name: "empty contacts file",
            broken: Contacts(Vec::new()),
            says: &["contacts.csv", "empty"],
        },
        Case {
            name: "header only",
            broken: Contacts(b"phone,name\n".to_vec()),
            says: &["contacts.csv", "no contacts"],
        },
        Case {
            name: "ten-megabyte field",
            broken: Contacts(ten_megabytes),
            says: &["contacts.csv", "line 2", "column 3"],
        },
        Case {
            name: "foreign journal directory",
            broken: JournalFile("notes.txt", b"mine".to_vec()),
            says: &["not an outdial journal", "notes.txt"],
        },
        Case {
            name: "corrupted journal",
            broken: JournalFile("sled/db", vec![0xAB; 4096]),
            says: &["journal", ".outdial", "damaged"],
        },
        Case {
            name: "a weight of zero",
            broken: Campaign("reads_per_second = 50", "reads_per_second = 50\nweight = 0"),
            says: &["line 12", "pacing.weight", "above 0"],
        },
        Case {
            name: "a weight beyond any share",
            broken: Campaign(
                "reads_per_second = 50",
                "reads_per_second = 50\nweight = 1e300",
            ),
            says: &["line 12", "pacing.weight", "1000"],
        },
        Case {
            name: "a password in the campaign file's store URL",
            broken: Campaign(
                "[retry]",
                "[store]\nurl = \"postgres://outdial:hunter2@db.example/outdial\"\n\n[retry]",
            ),
            says: &["store.url", "password", "PGPASSWORD", "OUTDIAL_STORE_URL"],
        },
        Case {
            name: "a store URL that is not PostgreSQL",
            broken: Campaign(
                "[retry]",
                "[store]\nurl = \"mysql://db.example/outdial\"\n\n[retry]",
            ),
            says: &["store.url", "postgres://USER@HOST:5432/DATABASE"],
        },
        Case {
            name: "an unknown key in [store]",
            broken: Campaign("[retry]", "[store]\nuri = \"postgres://db/o\"\n\n[retry]"),
            says: &["campaign.toml", "uri"],
        },
        Case {
            name: "a store URL in the environment that is not PostgreSQL",
            broken: Env("OUTDIAL_STORE_URL", "redis://db.example"),
            says: &["OUTDIAL_STORE_URL", "postgres://USER@HOST:5432/DATABASE"],
        },
    ]
}

/// Every case of the corpus: exit 2, a message naming the place, zero requests.
#[tokio::test(flavor = "multi_thread")]
async fn every_malformed_input_exits_2_naming_the_place_and_calls_nobody() {
    let corpus = corpus();
    assert!(corpus.len() >= 25);
    let mut failures = Vec::new();
    for case in corpus {
        let scenario = Scenario::start(
            &["+12125550101"],
            Settings::default(),
            &csv_of(&numbers_in(212, 0, 5)),
        )
        .await;
        let mut command = scenario.outdial(&["run", scenario.campaign_file().to_str().unwrap()]);
        // The corpus runs against the campaign's own base URL, so that an `api.base_url` case is
        // not overridden; loopback campaigns point at the sandbox through the file itself.
        command.env_remove("OUTDIAL_API_BASE");
        let campaign = std::fs::read_to_string(scenario.campaign_file())
            .unwrap()
            .replace(
                "[pacing]",
                &format!(
                    "[api]\nbase_url = \"{}\"\n\n[pacing]",
                    scenario.sandbox.synthflow_base()
                ),
            );
        std::fs::write(scenario.campaign_file(), &campaign).unwrap();
        match case.broken {
            Break::Campaign(from, to) => {
                let text = campaign.replacen(from, to, 1);
                assert_ne!(text, campaign, "{}: the case changed nothing", case.name);
                std::fs::write(scenario.campaign_file(), text).unwrap();
            }
            Break::CampaignBytes(bytes) => std::fs::write(scenario.campaign_file(), bytes).unwrap(),
            Break::Contacts(bytes) => {
                std::fs::write(scenario.dir.path().join("contacts.csv"), bytes).unwrap()
            }
            Break::JournalFile(path, bytes) => {
                let file = scenario
                    .dir
                    .path()
                    .join(".outdial/test-campaign")
                    .join(path);
                std::fs::create_dir_all(file.parent().unwrap()).unwrap();
                std::fs::write(file, bytes).unwrap();
            }
            Break::NoEnv(var) => {
                command.env_remove(var);
            }
            Break::Env(var, value) => {
                command.env(var, value);
            }
            Break::CampaignText(from, to) => {
                let text = campaign.replacen(from, &to, 1);
                assert_ne!(text, campaign, "{}: the case changed nothing", case.name);
                std::fs::write(scenario.campaign_file(), text).unwrap();
            }
        }
        let out = command.output().await.unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let missing: Vec<_> = case.says.iter().filter(|s| !stderr.contains(*s)).collect();
        let requests = scenario.sandbox.received().await.len();
        if out.status.code() != Some(2)
            || !missing.is_empty()
            || requests > 0
            || stderr.contains("panicked")
            || stderr.contains("hunter2")
        {
            failures.push(format!(
                "{}: exit {:?}, {requests} requests, missing {missing:?} in: {stderr}",
                case.name,
                out.status.code()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

proptest::proptest! {
    /// The campaign parser answers arbitrary text with an error or a valid campaign, never a panic.
    #[test]
    fn the_campaign_parser_never_panics(text in "(?s).{0,400}") {
        let _ = outdial::campaign::Campaign::from_text(std::path::Path::new("any.toml"), &text, &Default::default());
    }

    /// Nor does text that looks like a campaign file, with keys and values shuffled about, nor
    /// starting a run with whatever it accepts.
    #[test]
    fn campaign_like_text_never_panics(lines in proptest::collection::vec(campaign_line(), 0..12)) {
        let text = format!("agent = \"a\"\ncontacts = \"c.csv\"\n{}", lines.join("\n"));
        start_as_a_run_would(&text);
    }

    /// Any numbers in the numeric keys are refused at load or give a campaign whose run starts
    /// without a panic, with a pace of at least a call a day and waits that jiff can count.
    #[test]
    fn numeric_extremes_are_refused_or_usable(
        rate in proptest::prop_oneof![proptest::num::f64::ANY, 0.0..2e6f64, 0.0..1e-4f64],
        live in whole(),
        attempts in whole(),
        redial in whole(),
        grace in whole(),
        gap in whole(),
        cap in whole(),
    ) {
        let rate = if rate.is_finite() { format!("{rate:e}") } else { "nan".to_owned() };
        let text = format!(
            "agent = \"a\"\ncontacts = \"c.csv\"\n[pacing]\ncalls_per_second = {rate}\nmax_live_calls = {live}\n\
             [rotation]\nmax_calls_per_number_per_day = {cap}\nmin_seconds_between_calls_per_number = {gap}\n\
             [retry]\nmax_attempts = {attempts}\nredial_after_minutes = {redial}\nreconcile_grace_seconds = {grace}\n"
        );
        if let Some(campaign) = start_as_a_run_would(&text) {
            proptest::prop_assert!(campaign.pacing.calls_per_second.interval() <= std::time::Duration::from_secs(86_400));
            proptest::prop_assert!(jiff::SignedDuration::try_from(campaign.retry.redial_after).is_ok());
            proptest::prop_assert!(campaign.retry.redial_after <= std::time::Duration::from_secs(30 * 86_400));
        }
    }
}

/// Any i64, or one near the bounds so that accepted campaigns are common too.
fn whole() -> impl proptest::strategy::Strategy<Value = i64> {
    proptest::prop_oneof![proptest::num::i64::ANY, -2i64..200_000]
}

/// Loads `text` and, when it is a campaign, builds what a run builds from it first: the pacer,
/// the calling hours and the first opening, and the redial and grace deadlines.
fn start_as_a_run_would(text: &str) -> Option<outdial::campaign::Campaign> {
    use outdial::window::{CalleeZones, CallingHours};
    let campaign = outdial::campaign::Campaign::from_text(
        std::path::Path::new("any.toml"),
        text,
        &Default::default(),
    )
    .ok()?;
    let _pacer = outdial::pacing::Pacer::new(&campaign.pacing);
    let _interval = campaign.pacing.calls_per_second.interval();
    let now = jiff::Timestamp::now();
    let zones = CalleeZones::of(None, &[], &campaign.window.fallback_time_zone);
    let _opening = CallingHours::new(&campaign.window).next_opening(&zones, now);
    for wait in [campaign.retry.redial_after, campaign.retry.reconcile_grace] {
        let _due = now.checked_add(jiff::SignedDuration::try_from(wait).ok()?);
    }
    Some(campaign)
}

fn campaign_line() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    let key = prop::sample::select(vec![
        "name",
        "agent",
        "contacts",
        "default_country",
        "[api]",
        "base_url",
        "key_env",
        "[pacing]",
        "calls_per_second",
        "max_live_calls",
        "reads_per_second",
        "[rotation]",
        "strategy",
        "numbers",
        "[window]",
        "start",
        "end",
        "days",
        "holidays",
        "[retry]",
        "max_attempts",
        "redial_after_minutes",
        "reconcile_grace_seconds",
        "min_seconds_between_calls_per_number",
        "max_calls_per_number_per_day",
        "timezone",
        "unknown_zone",
        "[suppress]",
        "files",
    ]);
    let value = prop::sample::select(vec![
        "\"x\"",
        "0",
        "-1",
        "1e400",
        "nan",
        "inf",
        "\"\"",
        "[]",
        "[\"mon\"]",
        "\"25:00\"",
        "\"http://10.0.0.1\"",
        "\"https://a/v2\"",
        "9999999999999999999",
        "1.5",
        "true",
        "[\"+12125550101\"]",
        "\"round-robin\"",
        "{}",
        "1e-20",
        "1e-300",
        "5e-324",
        "-0.0",
        "1e6",
        "1000000.0000001",
        "4611686018427387904",
        "-9223372036854775808",
        "9223372036854775807",
        "4294967296",
        "\"hold\"",
        "\"fallback\"",
        "[\"monkey\"]",
        "\"00:00\"",
        "\"23:59:59.999999999\"",
        "\"https://u:p@a/v2\"",
    ]);
    (key, value).prop_map(|(k, v)| {
        if k.starts_with('[') {
            k.to_owned()
        } else {
            format!("{k} = {v}")
        }
    })
}
