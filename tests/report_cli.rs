//! `outdial report`: its figures agree with the sandbox's own record of the calls, it reads a
//! campaign while a run holds the journal without disturbing the run, and its HTML page shows
//! hostile CSV values as text.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use common::{ALWAYS_OPEN, Scenario, agent_with, campaign_text, numbers_in};
use outdial::api::CallState;
use outdial::history::Reach;
use outdial::sandbox::{CallLength, SandboxConfig};
use serde_json::Value;

const POOL: [&str; 2] = ["+12125550101", "+13105550101"];
const HOSTILE: &str = "<script>document.title='pwned'</script>";

/// A campaign over three area codes (212 and 310 in the pool, 415 in a pooled state, 303 in
/// neither), with a do-not-call contact and a broken row, both carrying markup.
fn contacts() -> (String, Vec<String>) {
    let mut phones = numbers_in(212, 0, 24);
    phones.extend(numbers_in(415, 0, 12));
    phones.extend(numbers_in(303, 0, 6));
    let mut csv = String::from("phone,name\n");
    for (i, phone) in phones.iter().enumerate() {
        csv.push_str(&format!("{phone},Person {i}\n"));
    }
    csv.push_str(&format!("+12122349999,\"{HOSTILE}\"\n"));
    csv.push_str(&format!("\"{HOSTILE}\",Broken\n"));
    csv.push_str(&format!("{},Again\n", phones[0]));
    (csv, phones)
}

async fn scenario(call_duration: CallLength, max_live: u32) -> (Scenario, Vec<String>) {
    let config = SandboxConfig {
        agents: agent_with(&POOL),
        seed: 11,
        call_duration,
        outcomes: "completed=50,no-answer=20,busy=10,left_voicemail=20"
            .parse()
            .expect("a valid mix"),
        ..SandboxConfig::default()
    };
    let campaign = campaign_text(&format!(
        "[pacing]\ncalls_per_second = 50\nmax_live_calls = {max_live}\nreads_per_second = 50\n\n\
         [rotation]\nstrategy = \"region\"\nmax_calls_per_number_per_day = 500\n\n\
         [retry]\nmax_attempts = 1\nreconcile_grace_seconds = 1\n\n\
         [suppress]\nfiles = [\"dnc.txt\"]\n\n{ALWAYS_OPEN}"
    ));
    let (csv, phones) = contacts();
    let scenario = Scenario::start_with(config, &campaign, &csv).await;
    std::fs::write(scenario.dir.path().join("dnc.txt"), "+12122349999\n").unwrap();
    (scenario, phones)
}

async fn report_json(scenario: &Scenario, extra: &[&str]) -> Value {
    let file = scenario.campaign_file();
    let mut args = vec!["report", file.to_str().unwrap(), "--json"];
    args.extend_from_slice(extra);
    let out = scenario.outdial(&args).output().await.unwrap();
    assert!(
        out.status.success(),
        "report failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("report --json prints JSON")
}

/// What the sandbox says each created call ended as, asked over HTTP one call at a time.
async fn vendor_ends(scenario: &Scenario) -> HashMap<String, CallState> {
    let client = reqwest::Client::new();
    let mut ends = HashMap::new();
    for call in scenario.sandbox.received().await {
        let Some(id) = call.call_id else { continue };
        let url = format!("{}/calls/{id}", scenario.sandbox.synthflow_base());
        let body: Value = client
            .get(url)
            .bearer_auth("test-key")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let state: CallState =
            serde_json::from_value(body["response"]["calls"][0].clone()).unwrap();
        ends.insert(call.phone.unwrap(), state);
    }
    ends
}

/// Every figure that the sandbox can judge agrees with it: the funnel (attempted, connected,
/// person reached) by each contact's call, attempts and connections per caller ID, the tiers'
/// totals, the heat map's total, and what was skipped and why; the area codes and states the
/// pool lacks come with the search that fills them, and those it has with none.
#[tokio::test(flavor = "multi_thread")]
async fn report_figures_agree_with_the_sandbox_record() {
    let (scenario, phones) = scenario(Duration::ZERO.into(), 16).await;
    scenario.run().await;
    let report = report_json(&scenario, &[]).await;
    let ends = vendor_ends(&scenario).await;
    assert_eq!(ends.len(), phones.len(), "each contact was called once");

    let reach: Vec<Reach> = ends.values().map(Reach::of).collect();
    let funnel = &report["funnel"];
    assert_eq!(
        funnel["contacts"],
        phones.len() as u64 + 1,
        "the do-not-call contact counts"
    );
    assert_eq!(funnel["attempted"], phones.len() as u64);
    assert_eq!(funnel["attempts"], phones.len() as u64);
    let connected = reach.iter().filter(|r| r.connected()).count() as u64;
    let people = reach.iter().filter(|r| **r == Reach::Person).count() as u64;
    assert!(
        connected > 0 && connected < phones.len() as u64,
        "the mix varies"
    );
    assert_eq!(funnel["connected"], connected);
    assert_eq!(funnel["contact"], people);
    assert!(funnel["completed"].as_u64().unwrap() <= people);
    assert_eq!(funnel["saturation"], 1.0);

    let per_caller = scenario.calls_per_caller_id().await;
    let mut connected_per_caller: BTreeMap<String, u64> = BTreeMap::new();
    for call in scenario.sandbox.received().await {
        let end = &ends[call.phone.as_ref().unwrap()];
        *connected_per_caller
            .entry(call.from_phone_number.unwrap())
            .or_default() += u64::from(Reach::of(end).connected());
    }
    let callers = report["callers"].as_array().unwrap();
    assert_eq!(callers.len(), per_caller.len());
    for caller in callers {
        let id = caller["caller_id"].as_str().unwrap();
        let rate = &caller["connection"];
        assert_eq!(caller["attempts"], per_caller[id] as u64, "{id}");
        assert_eq!(caller["calls_today"], per_caller[id] as u64, "{id}");
        assert_eq!(caller["cap"], 500);
        assert_eq!(caller["health"], "active");
        assert_eq!(rate["hits"], connected_per_caller[id], "{id}");
        let (low, p, high) = (
            rate["low"].as_f64(),
            rate["rate"].as_f64(),
            rate["high"].as_f64(),
        );
        assert!(low <= p && p <= high, "{rate}");
    }

    let sum = |key: &str, field: &str| -> u64 {
        report[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.pointer(field).and_then(Value::as_u64).unwrap())
            .sum()
    };
    assert_eq!(sum("tiers", "/connection/trials"), phones.len() as u64);
    assert_eq!(sum("tiers", "/connection/hits"), connected);
    assert_eq!(sum("heat_map", "/attempts"), phones.len() as u64);
    assert_eq!(sum("heat_map", "/connected"), connected);
    let over_time: u64 = report["calls_over_time"]["calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(over_time, phones.len() as u64);

    let area = |code: u64| {
        report["area_codes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["area_code"] == code)
            .unwrap_or_else(|| panic!("area code {code} in {}", report["area_codes"]))
            .clone()
    };
    assert_eq!(area(212)["contacts"], 25);
    assert_eq!(area(212)["fill"], Value::Null);
    assert_eq!(area(415)["contacts"], 12);
    assert_eq!(area(415)["fill"], "outdial numbers search --area-code 415");
    assert_eq!(area(303)["fill"], "outdial numbers search --area-code 303");
    let reached_415 = ends
        .iter()
        .filter(|(phone, end)| phone.starts_with("+1415") && Reach::of(end) == Reach::Person)
        .count();
    assert_eq!(area(415)["reached"], reached_415 as u64);
    let state = |name: &str| {
        report["states"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["state"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(state("US-CA")["fill"], Value::Null, "310 is in California");
    assert_eq!(state("US-CO")["fill"], "outdial numbers search --state CO");

    assert_eq!(report["skipped"]["do_not_call"], 1);
    assert_eq!(report["skipped"]["bad_phone"], 1);
    assert_eq!(report["skipped"]["duplicate"], 1);
    assert_eq!(report["api"]["uncertain"], 0);
    assert_eq!(report["source"], "journal");
}

/// The terminal summary reads as a summary: the funnel, a table per caller ID, the gaps with
/// their searches, and the skipped contacts by reason.
#[tokio::test(flavor = "multi_thread")]
async fn the_terminal_report_is_a_readable_summary() {
    let (scenario, phones) = scenario(Duration::ZERO.into(), 16).await;
    scenario.run().await;
    let file = scenario.campaign_file();
    let out = scenario
        .outdial(&["report", file.to_str().unwrap()])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let funnel = format!(
        "funnel: {} contacts → {} attempted",
        phones.len() + 1,
        phones.len()
    );
    assert!(text.contains(&funnel), "{text}");
    for needle in [
        "CALLER ID",
        "+12125550101",
        "+13105550101",
        "outdial numbers search --area-code 303",
        "outdial numbers search --state CO",
        "do-not-call 1",
        "bad phone 1",
    ] {
        assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
    }
}

/// While a run holds the journal, the report reads a copy of it: every report taken during the
/// run answers, says so, and counts no fewer calls than the one before (a copy is never older
/// than an earlier one), and the run goes on to call everyone exactly once.
#[tokio::test(flavor = "multi_thread")]
async fn report_reads_a_running_campaign_without_disturbing_it() {
    // Calls of 1–2 s, two at a time: the run lasts long enough to be read while it goes.
    let (scenario, phones) = scenario("1..2".parse().expect("a valid call length"), 2).await;
    let file = scenario.campaign_file();
    let mut run = scenario
        .outdial(&["run", file.to_str().unwrap(), "--quiet"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    scenario.wait_for_requests(4).await;

    let mut seen = Vec::new();
    let status = loop {
        if let Some(status) = run.try_wait().unwrap() {
            break status;
        }
        let during = report_json(&scenario, &[]).await;
        if during["source"] == "running_copy" {
            seen.push(during["funnel"]["attempted"].as_u64().unwrap());
        }
    };
    assert!(status.success(), "the run succeeds: {status}");
    eprintln!("attempted, as each report during the run saw it: {seen:?}");
    assert!(seen.len() >= 2, "read during the run: {seen:?}");
    assert!(seen[0] >= 4, "{seen:?}");
    assert!(
        seen.windows(2).all(|w| w[0] <= w[1]),
        "never older: {seen:?}"
    );
    assert!(
        seen[0] < phones.len() as u64,
        "the first read was before the end"
    );
    scenario.assert_each_called_once(&phones).await;
    let after = report_json(&scenario, &[]).await;
    assert_eq!(after["source"], "journal");
    assert_eq!(after["funnel"]["attempted"], phones.len() as u64);
    assert!(after["api"]["requests"]["creates"].as_u64().unwrap() >= phones.len() as u64);
}

/// Values from the CSV reach the HTML page as text: a contact named with a script and a row
/// whose phone cell is markup appear escaped, and the page asks for nothing over the network.
#[tokio::test(flavor = "multi_thread")]
async fn the_html_page_escapes_what_the_csv_wrote() {
    let (scenario, _) = scenario(Duration::ZERO.into(), 16).await;
    scenario.run().await;
    let page = scenario.dir.path().join("report.html");
    report_json(&scenario, &["--html", page.to_str().unwrap()]).await;
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(!html.contains("<script"), "no script element at all");
    let escaped = "&lt;script&gt;document.title=&#39;pwned&#39;&lt;/script&gt;";
    let escaped_alt = "&lt;script&gt;document.title='pwned'&lt;/script&gt;";
    let shown = html.matches(escaped).count() + html.matches(escaped_alt).count();
    assert!(shown >= 2, "the name and the broken cell show as text");
    for remote in ["https://", "src=", "href=", "@import", "url("] {
        assert!(!html.contains(remote), "the page fetches {remote}");
    }
    assert_eq!(html.matches("<svg").count(), 6, "six charts");
}

/// The demo ends with its report: it prints the page's path last, and the page is there with
/// its six charts after the demo's own folder is gone.
#[tokio::test(flavor = "multi_thread")]
async fn the_demo_ends_by_writing_its_report_page() {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_outdial"))
        .args(["demo", "--quiet"])
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let last = stdout.lines().last().unwrap_or_default();
    let page = std::path::PathBuf::from(
        last.strip_prefix("report: ")
            .unwrap_or_else(|| panic!("the demo ends with its page: {stdout}")),
    );
    let html = std::fs::read_to_string(&page).expect("the page is written");
    std::fs::remove_file(&page).unwrap();
    assert!(
        !page.with_extension("").exists(),
        "the demo's folder is removed"
    );
    assert_eq!(html.matches("<svg").count(), 6);
    assert!(html.contains("Campaign demo-renewals"));
}

/// `[rotation] arms = ["region", "round-robin"]`: each contact stays in the arm a hash of its
/// phone gives it, and the report's arms agree with the sandbox's record: every contact counted
/// in one arm, each arm's attempts and connections those of its own contacts' calls (an answered
/// call connects; the sandbox says which), with 95% intervals and a z against the first arm. In
/// the region arm, a 212 callee is called from the 212 number; round-robin does not look.
#[tokio::test(flavor = "multi_thread")]
async fn the_report_compares_a_b_arms_from_the_sandbox_record() {
    let config = SandboxConfig {
        agents: agent_with(&POOL),
        seed: 12,
        call_duration: Duration::ZERO.into(),
        outcomes: "completed=60,no-answer=40".parse().expect("a valid mix"),
        ..SandboxConfig::default()
    };
    let campaign = campaign_text(&format!(
        "[pacing]\ncalls_per_second = 100\nmax_live_calls = 8\nreads_per_second = 50\n\n\
         [rotation]\narms = [\"region\", \"round-robin\"]\n\n\
         [retry]\nmax_attempts = 1\n\n{ALWAYS_OPEN}"
    ));
    let phones = numbers_in(212, 0, 60);
    let scenario = Scenario::start_with(config, &campaign, &common::csv_of(&phones)).await;
    scenario.run().await;
    let report = report_json(&scenario, &[]).await;

    let arms = report["arms"].as_array().expect("arms are listed");
    assert_eq!(arms.len(), 2);
    assert_eq!(arms[0]["strategy"], "region");
    assert_eq!(arms[1]["strategy"], "round-robin");
    let mut expected = [(0u64, 0u64, 0u64); 2];
    let ends = vendor_ends(&scenario).await;
    for call in scenario.sandbox.received().await {
        let (Some(_), Some(to)) = (call.call_id, call.phone) else {
            continue;
        };
        let arm = outdial::rotation::arm_of(&common::phone(&to), 2);
        let state = &ends[&to];
        expected[arm].0 += 1;
        expected[arm].1 += u64::from(Reach::of(state).connected());
        if arm == 0 {
            assert_eq!(
                call.from_phone_number.as_deref(),
                Some(POOL[0]),
                "region is local"
            );
        }
    }
    for phone in &phones {
        expected[outdial::rotation::arm_of(&common::phone(phone), 2)].2 += 1;
    }
    for (arm, (attempts, connected, contacts)) in arms.iter().zip(expected) {
        assert_eq!(arm["contacts"], contacts);
        assert_eq!(arm["connection"]["trials"], attempts);
        assert_eq!(arm["connection"]["hits"], connected);
        assert!(arm["connection"]["low"].as_f64() <= arm["connection"]["rate"].as_f64());
    }
    assert!(
        expected.iter().all(|(_, _, contacts)| *contacts > 10),
        "{expected:?}"
    );
    assert_eq!(arms[0]["z_against_first"], 0.0);
    assert!(arms[1]["z_against_first"].is_number());
    let text = scenario
        .outdial(&["report", scenario.campaign_file().to_str().unwrap()])
        .output()
        .await
        .unwrap();
    assert!(String::from_utf8_lossy(&text.stdout).contains("A/B arms"));
}
