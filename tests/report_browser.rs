//! The report's HTML page in a real browser: headless Chromium loads the page of a seeded
//! sandbox campaign whose CSV carries markup, and every chart must be there and drawn, the page
//! must log nothing to the console (no error, no blocked script, no blocked fetch), and no script
//! from the data may run.
//!
//! Without Chromium this test says how to install it and skips; under `CI=true` it fails instead.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use common::{ALWAYS_OPEN, Scenario, agent_with, campaign_text, numbers_in};
use outdial::sandbox::SandboxConfig;

/// Sets an attribute on the page if it ever runs; `onerror` covers an `<img>` that got through.
const HOSTILE_NAME: &str = "<script>document.body.setAttribute('data-pwned','1')</script>";
const HOSTILE_CELL: &str = "<img src=x onerror=\"document.body.setAttribute('data-pwned','2')\">";

/// The chart titles, as the page draws them.
const CHARTS: [&str; 6] = [
    "Outcome funnel",
    "Connection rate by the callee",
    "Connection rate per caller ID",
    "Does local presence pay?",
    "Calls started over time",
    "Ring time",
];

/// Every chart is present and drawn, the console stays silent, and the hostile CSV values are
/// shown as text instead of running.
#[tokio::test(flavor = "multi_thread")]
async fn the_report_page_renders_cleanly_in_chromium() {
    let Some(chromium) = chromium() else { return };
    let scenario = seeded_campaign().await;
    scenario.run().await;
    let page = scenario.dir.path().join("report.html");
    let file = scenario.campaign_file();
    let out = scenario
        .outdial(&[
            "report",
            file.to_str().unwrap(),
            "--html",
            page.to_str().unwrap(),
        ])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let (dom, log) = load(&chromium, &page, scenario.dir.path()).await;

    let console: Vec<&str> = log.lines().filter(|l| l.contains(":CONSOLE")).collect();
    assert!(
        console.is_empty(),
        "the page logged to the console: {console:#?}"
    );
    // Set, the attribute would be serialised on <body> as `data-pwned="…"`; as text it is not.
    assert!(!dom.contains("data-pwned=\""), "a script from the data ran");
    assert!(
        dom.contains("&lt;script&gt;document.body.setAttribute"),
        "the name shows as text"
    );
    assert!(
        dom.contains("&lt;img src=x onerror="),
        "the broken cell shows as text"
    );

    let figures: Vec<&str> = dom.split("<figure").skip(1).collect();
    assert_eq!(figures.len(), CHARTS.len(), "one figure per chart");
    for (figure, title) in figures.iter().zip(CHARTS) {
        let figure = figure.split("</figure>").next().unwrap();
        assert!(figure.contains("<svg"), "{title}: no SVG");
        assert!(
            figure.contains(title),
            "{title}: the chart's title is missing"
        );
        let marks = data_marks(figure);
        if title == "Ring time" {
            // The sandbox gives no `telephony_ringing_duration`: the chart must say so.
            assert!(
                figure.contains("no ringing times: the vendor gave none for 35 ended calls"),
                "{title}: {figure}"
            );
        } else {
            assert!(marks >= 1, "{title}: no data marks drawn");
        }
    }
}

/// Bars and cells coloured by data: every `<rect>` but the white background and the heat
/// map's grey empty cells.
fn data_marks(svg: &str) -> usize {
    svg.split("<rect")
        .skip(1)
        .filter(|rect| {
            let fill = rect.split("fill=\"").nth(1).and_then(|f| f.get(..7));
            !matches!(fill, Some("#FFFFFF" | "#EEEEEE") | None)
        })
        .count()
}

/// Chromium as Debian packages it, or `$CHROMIUM`; `None` (having said how to install it) when
/// missing outside CI.
fn chromium() -> Option<PathBuf> {
    let candidates = std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .into_iter()
        .chain(["chromium", "chromium-browser"].map(PathBuf::from));
    for candidate in candidates {
        let found = std::process::Command::new(&candidate)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if found {
            return Some(candidate);
        }
    }
    let advice = "Chromium is not installed: `apt-get install -y chromium` (Debian), or set \
                  CHROMIUM to a Chromium or Chrome binary";
    assert!(std::env::var("CI").as_deref() != Ok("true"), "{advice}");
    eprintln!("skipped: {advice}");
    None
}

/// The page as the browser built it (after any script could run), and the browser's log.
async fn load(chromium: &Path, page: &Path, scratch: &Path) -> (String, String) {
    let profile = scratch.join("chromium-profile");
    let run = tokio::process::Command::new(chromium)
        .args([
            "--headless",
            // Needed as root (CI containers); the page is our own file, loaded offline.
            "--no-sandbox",
            "--disable-gpu",
            "--enable-logging=stderr",
            "--v=0",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("Chromium loads the page within two minutes")
        .expect("Chromium starts");
    assert!(
        out.status.success(),
        "Chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A seeded campaign with a mix of outcomes, two caller IDs, a do-not-call contact with a
/// scripted name and a row whose phone cell is an `<img>` with an `onerror`.
async fn seeded_campaign() -> Scenario {
    let config = SandboxConfig {
        agents: agent_with(&["+12125550101", "+13105550101"]),
        seed: 5,
        call_duration: Duration::ZERO.into(),
        outcomes: "completed=50,no-answer=25,busy=5,left_voicemail=20"
            .parse()
            .expect("a valid mix"),
        ..SandboxConfig::default()
    };
    let campaign = campaign_text(&format!(
        "[pacing]\ncalls_per_second = 50\nreads_per_second = 50\n\n\
         [retry]\nmax_attempts = 1\nreconcile_grace_seconds = 1\n\n\
         [suppress]\nfiles = [\"dnc.txt\"]\n\n{ALWAYS_OPEN}"
    ));
    let mut csv = String::from("phone,name\n");
    let phones = [
        numbers_in(212, 0, 20),
        numbers_in(310, 0, 10),
        numbers_in(720, 0, 5),
    ];
    for (i, phone) in phones.iter().flatten().enumerate() {
        csv.push_str(&format!("{phone},Person {i}\n"));
    }
    csv.push_str(&format!("+12122349999,\"{}\"\n", HOSTILE_NAME));
    csv.push_str(&format!(
        "\"{}\",Broken\n",
        HOSTILE_CELL.replace('"', "\"\"")
    ));
    let scenario = Scenario::start_with(config, &campaign, &csv).await;
    std::fs::write(scenario.dir.path().join("dnc.txt"), "+12122349999\n").unwrap();
    scenario
}
