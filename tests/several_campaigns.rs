//! Several campaigns in one process (issue 13): `outdial run a.toml b.toml` dials them under one
//! budget per account. A number's daily cap and cooldown count every campaign's calls from it,
//! also across a SIGKILL and a resume of both; the account's start rate and live-call bound hold
//! for all campaigns together (the strictest of their files, said on stderr when they differ),
//! with zero 429s; turns go by `[pacing] weight`; each campaign keeps its own journal, summary and
//! `status`. The same campaign given twice, or one campaign whose contacts file is broken, calls
//! nobody in any of them.

mod common;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;

use common::{Notes, Said, Scenario, limited_account, named_campaign, numbers_in, open_journal};
use outdial::api::Synthflow;
use outdial::budget;
use outdial::campaign::{ApiKey, Campaign, Overrides};
use outdial::clock::Clock;
use outdial::dialer::{self, Dialer, Ending};

const POOL: &[&str] = &["+12125550101", "+14155550102"];

/// Two campaigns in the scenario's directory: `a` over `a_phones`, `b` over `b_phones`, each
/// with its own tables.
fn two_campaigns(
    scenario: &Scenario,
    (a_tables, a_phones): (&str, &[String]),
    (b_tables, b_phones): (&str, &[String]),
) -> [PathBuf; 2] {
    let dir = scenario.dir.path();
    [
        named_campaign(dir, "a", a_phones, a_tables),
        named_campaign(dir, "b", b_phones, b_tables),
    ]
}

fn paths(files: &[PathBuf]) -> Vec<&str> {
    files.iter().map(|f| f.to_str().unwrap()).collect()
}

/// Accepted creates per campaign, told apart by the callee's area code (`a` dials 212, `b` 415).
async fn calls_by_campaign(scenario: &Scenario) -> (usize, usize) {
    let calls = scenario.calls_per_phone().await;
    let of = |npa: &str| {
        calls
            .iter()
            .filter(|(phone, _)| phone.starts_with(&format!("+1{npa}")))
            .map(|(_, n)| n)
            .sum()
    };
    (of("212"), of("415"))
}

/// Runs the campaigns in-process as `run a.toml b.toml` does (one share of one budget each),
/// on `clock`, until each has said it has nobody to call now.
async fn run_side_by_side_until_idle(scenario: &Scenario, files: &[PathBuf], clock: Clock) {
    let overrides = Overrides {
        api_base: Some(scenario.sandbox.synthflow_base()),
    };
    let campaigns: Vec<Campaign> = files
        .iter()
        .map(|f| Campaign::load(f, &overrides).unwrap())
        .collect();
    let keys: Vec<ApiKey> = campaigns.iter().map(|_| ApiKey::new("test-key")).collect();
    let with_keys: Vec<_> = campaigns.iter().zip(&keys).collect();
    let (shares, disagreements) = budget::shares(&with_keys, None);
    assert!(disagreements.is_empty(), "{disagreements:?}");
    let mut journals = Vec::new();
    for campaign in &campaigns {
        let journal = open_journal(campaign).await;
        dialer::survey(campaign, &journal).await.unwrap();
        journals.push(journal);
    }
    let notes: Vec<Notes> = campaigns.iter().map(|_| Notes::default()).collect();
    let mut runs = Vec::new();
    for (i, campaign) in campaigns.iter().enumerate() {
        let api = Synthflow::new(&campaign.api.base_url, ApiKey::new("test-key")).unwrap();
        let pool = dialer::resolve_pool(campaign, &api).await.unwrap();
        let dialer = Dialer::new(
            campaign,
            api,
            &journals[i],
            &pool,
            shares[i].clone(),
            &notes[i],
        )
        .unwrap()
        .with_clock(clock);
        let idle = notes[i].said("nobody to call now");
        runs.push(async move { dialer.run(idle).await.unwrap() });
    }
    for finish in futures_util::future::join_all(runs).await {
        assert!(
            matches!(finish.ending, Ending::Interrupted),
            "{:?}",
            finish.ending
        );
    }
    for journal in journals {
        journal.close().await;
    }
}

/// Noon UTC today, moving on in real time: no daily cap meets a UTC midnight in the test.
fn noon_today() -> Clock {
    let today = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    let noon = today
        .at(12, 0, 0, 0)
        .to_zoned(jiff::tz::TimeZone::UTC)
        .unwrap();
    Clock::starting_at(noon.timestamp())
}

/// Two numbers capped at 5 calls a day, two campaigns of 8 contacts each: 10 calls in all, 5 per
/// number, both campaigns among them (not 10 per number, as two separate caps would allow). A
/// second pair of runs the same day, with a fresh budget read back from both journals, calls
/// nobody more.
#[tokio::test(flavor = "multi_thread")]
async fn a_numbers_daily_cap_counts_every_campaigns_calls() {
    let scenario = Scenario::start(POOL, common::Settings::default(), "phone\n").await;
    let capped = "[rotation]\nmax_calls_per_number_per_day = 5\n";
    let files = two_campaigns(
        &scenario,
        (capped, &numbers_in(212, 0, 8)),
        (capped, &numbers_in(415, 0, 8)),
    );
    let clock = noon_today();
    run_side_by_side_until_idle(&scenario, &files, clock).await;
    let per_number = scenario.calls_per_caller_id().await;
    let expected: HashMap<String, usize> = POOL.iter().map(|n| (n.to_string(), 5)).collect();
    assert_eq!(per_number, expected, "each number exactly at its cap");
    let (a, b) = calls_by_campaign(&scenario).await;
    assert_eq!(a + b, 10);
    assert!(a > 0 && b > 0, "both campaigns dialled: {a} and {b}");

    run_side_by_side_until_idle(&scenario, &files, clock).await;
    assert_eq!(
        scenario.calls_per_caller_id().await,
        expected,
        "the caps were read back from both journals"
    );
}

/// A cooldown of an hour on two numbers, three contacts in each of two campaigns: two calls in
/// all, whichever campaign made them. The process is SIGKILLed once both say they wait; the
/// resume of both calls nobody more, and its SIGTERM prints both summaries and the one command
/// that continues them together.
#[tokio::test(flavor = "multi_thread")]
async fn a_cooldown_holds_across_campaigns_and_a_sigkill() {
    let scenario = Scenario::start(POOL, common::Settings::default(), "phone\n").await;
    let cooled = "[rotation]\nmin_seconds_between_calls_per_number = 3600\n";
    let files = two_campaigns(
        &scenario,
        (cooled, &numbers_in(212, 0, 3)),
        (cooled, &numbers_in(415, 0, 3)),
    );
    let both_wait = ["[a] nobody to call now", "[b] nobody to call now"];
    let mut args = vec!["run"];
    args.extend(paths(&files));
    let mut child = scenario
        .outdial(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    Said::of(&mut child).until_all(&both_wait).await;
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    let after_kill = scenario.calls_per_caller_id().await;
    let expected: HashMap<String, usize> = POOL.iter().map(|n| (n.to_string(), 1)).collect();
    assert_eq!(after_kill, expected, "one call per number in the hour");

    args[0] = "resume";
    let mut child = scenario
        .outdial(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    Said::of(&mut child).until_all(&both_wait).await;
    let pid = child.id().unwrap().to_string();
    let sent = tokio::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    assert!(sent.success());
    let out = child.wait_with_output().await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(143), "{stdout}");
    assert_eq!(scenario.calls_per_caller_id().await, expected);
    for words in [
        "== campaign a ==",
        "== campaign b ==",
        &format!("outdial resume {}", paths(&files).join(" ")),
    ] {
        assert!(stdout.contains(words), "`{words}` missing from: {stdout}");
    }
}

/// An account that allows 2 starts a second and 3 live calls, calls of 1–2 s: campaign `a`
/// says so, `b` claims more. Run together, they keep to the strictest (said on stderr), the
/// account answers no 429 and never sees more than 3 live, and everyone is called once.
#[tokio::test(flavor = "multi_thread")]
async fn the_account_limits_hold_for_both_campaigns_together() {
    let scenario = Scenario::start_with(limited_account(POOL, 2, 3), "", "phone\n").await;
    let (a_phones, b_phones) = (numbers_in(212, 0, 8), numbers_in(415, 0, 8));
    let files = two_campaigns(
        &scenario,
        (
            "[pacing]\ncalls_per_second = 2\nmax_live_calls = 3\nreads_per_second = 20\n",
            &a_phones,
        ),
        (
            "[pacing]\ncalls_per_second = 10\nmax_live_calls = 20\nreads_per_second = 20\n",
            &b_phones,
        ),
    );
    let mut args = vec!["run"];
    args.extend(paths(&files));
    let out = scenario.outdial(&args).output().await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("campaigns a, b share the account")
            && stderr.contains("2 calls/s, 3 live calls"),
        "the disagreement is said: {stderr}"
    );
    let stats = scenario.sandbox.stats();
    assert_eq!(stats.too_many_requests.total(), 0, "no 429s: {stats:?}");
    assert!(stats.max_live <= 3, "more than 3 live: {stats:?}");
    assert!(
        stats.max_live >= 2,
        "the live bound was never pressed, so the test proves little: {stats:?}"
    );
    let everyone: Vec<String> = a_phones.into_iter().chain(b_phones).collect();
    scenario.assert_each_called_once(&everyone).await;
}

/// Weights 3 and 1 on a shared start rate: of the first 40 calls, about three quarters are
/// `a`'s. Each campaign then has its own journal: `status` of each counts its own contacts.
#[tokio::test(flavor = "multi_thread")]
async fn turns_go_by_weight_and_each_campaign_keeps_its_own_figures() {
    let scenario = Scenario::start(POOL, common::Settings::default(), "phone\n").await;
    let pacing = |weight: u32| {
        format!("[pacing]\ncalls_per_second = 40\nmax_live_calls = 8\nweight = {weight}\n")
    };
    let (a_phones, b_phones) = (numbers_in(212, 0, 40), numbers_in(415, 0, 40));
    let files = two_campaigns(&scenario, (&pacing(3), &a_phones), (&pacing(1), &b_phones));
    let mut args = vec!["run", "--json"];
    args.extend(paths(&files));
    let out = scenario.outdial(&args).output().await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let summary: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(summary["exit_code"], 0);
    assert_eq!(summary["resume"], serde_json::Value::Null);
    let names: Vec<&str> = summary["campaigns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["campaign"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a", "b"]);

    let mut received = scenario.sandbox.received().await;
    received.sort_by_key(|c| c.at_ms);
    let a_first = received[..40]
        .iter()
        .filter(|c| c.phone.as_deref().is_some_and(|p| p.starts_with("+1212")))
        .count();
    assert!(
        (26..=34).contains(&a_first),
        "a made {a_first} of the first 40"
    );
    let everyone: Vec<String> = a_phones.into_iter().chain(b_phones).collect();
    scenario.assert_each_called_once(&everyone).await;

    for file in &files {
        let out = scenario
            .outdial(&["status", file.to_str().unwrap(), "--json"])
            .output()
            .await
            .unwrap();
        let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(status["phase"], "complete", "{status}");
        assert_eq!(status["tally"]["states"]["done"], 40, "{status}");
    }
}

/// The same campaign given twice is refused before anything is opened or sent.
#[tokio::test(flavor = "multi_thread")]
async fn the_same_campaign_twice_is_refused() {
    let scenario = Scenario::start(POOL, common::Settings::default(), "phone\n").await;
    let files = two_campaigns(
        &scenario,
        ("", &numbers_in(212, 0, 2)),
        ("", &numbers_in(415, 0, 2)),
    );
    let a = files[0].to_str().unwrap();
    let out = scenario.outdial(&["run", a, a]).output().await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("the same campaign `a`") && stderr.contains("give each campaign once"),
        "{stderr}"
    );
    assert!(scenario.sandbox.received().await.is_empty());
}

/// A contacts file broken on its last row in one campaign: exit 2 naming it, and nobody in
/// either campaign is called.
#[tokio::test(flavor = "multi_thread")]
async fn one_broken_contacts_file_calls_nobody_in_any_campaign() {
    let scenario = Scenario::start(POOL, common::Settings::default(), "phone\n").await;
    let files = two_campaigns(
        &scenario,
        ("", &numbers_in(212, 0, 5)),
        ("", &numbers_in(415, 0, 5)),
    );
    let broken = scenario.dir.path().join("b.csv");
    let mut csv = std::fs::read_to_string(&broken).unwrap();
    csv.push_str("+14155550199,\"an unclosed quote\n");
    std::fs::write(&broken, csv).unwrap();
    let mut args = vec!["run"];
    args.extend(paths(&files));
    let out = scenario.outdial(&args).output().await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("b.csv"), "names the file: {stderr}");
    assert!(scenario.sandbox.received().await.is_empty(), "{stderr}");
}

/// Campaigns run together share their accounts, so they share one store or none: files that
/// name different stores are refused before any store is asked or anyone is called.
#[tokio::test(flavor = "multi_thread")]
async fn campaigns_naming_different_stores_are_refused() {
    let scenario = Scenario::start(POOL, common::Settings::default(), "phone\n").await;
    // Port 1 answers nobody: a run that tried to connect would fail otherwise than asked.
    let store = |db: &str| format!("[store]\nurl = \"postgres://outdial@127.0.0.1:1/{db}\"\n");
    let files = two_campaigns(
        &scenario,
        (&store("a"), &numbers_in(212, 0, 2)),
        (&store("b"), &numbers_in(415, 0, 2)),
    );
    let mut args = vec!["run"];
    args.extend(paths(&files));
    let out = scenario.outdial(&args).output().await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("name different stores"), "{stderr}");
    assert!(scenario.sandbox.received().await.is_empty());
}
