//! `outdial plan` makes the choices `run` makes, calls nobody, and tells the gaps and the windows.

mod common;

use common::{Scenario, Settings, csv_of, numbers_in};

const POOL: &[&str] = &[
    "+12125550101",
    "+14155550102",
    "+13125550104",
    "+12125550111",
];

fn contacts() -> Vec<String> {
    [212, 718, 415, 650, 312, 773, 907, 808]
        .iter()
        .enumerate()
        .flat_map(|(i, npa)| numbers_in(*npa, 0, 5 + i as u32 * 3))
        .collect()
}

async fn plan_json(scenario: &Scenario) -> serde_json::Value {
    let out = scenario
        .outdial(&["plan", scenario.campaign_file().to_str().unwrap(), "--json"])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("plan --json is JSON")
}

/// The planned load per caller ID is exactly what the run then places, and planning calls nobody.
#[tokio::test(flavor = "multi_thread")]
async fn plan_counts_equal_the_runs() {
    let scenario = Scenario::start(POOL, Settings::default(), &csv_of(&contacts())).await;

    let plan = plan_json(&scenario).await;
    assert!(
        scenario.sandbox.received().await.is_empty(),
        "plan called somebody"
    );
    scenario.run().await;

    let placed = scenario.calls_per_caller_id().await;
    let planned = plan["load"].as_object().unwrap();
    assert_eq!(planned.len(), placed.len());
    for (number, calls) in &placed {
        assert_eq!(planned[number]["calls"], *calls as u64, "load of {number}");
    }
    assert_eq!(plan["contacts"], contacts().len() as u64);
}

/// Area codes with contacts but no number of their own are listed with their counts and the
/// search that would fill them; a state with no number at all is listed too.
#[tokio::test(flavor = "multi_thread")]
async fn coverage_gaps_name_the_search_that_fills_them() {
    let scenario = Scenario::start(POOL, Settings::default(), &csv_of(&contacts())).await;

    let plan = plan_json(&scenario).await;

    let gaps: Vec<(u64, u64, String)> = plan["gaps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["area_code"].as_u64().unwrap(),
                g["contacts"].as_u64().unwrap(),
                g["search"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let codes: Vec<u64> = gaps.iter().map(|g| g.0).collect();
    assert_eq!(
        codes,
        [808, 907, 773, 650, 718],
        "most contacts first; pooled area codes are no gap"
    );
    assert_eq!(
        gaps[0],
        (808, 26, "outdial numbers search --area-code 808".to_owned())
    );
    let regions: Vec<&str> = plan["regions_without_a_number"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["region"].as_str().unwrap())
        .collect();
    assert_eq!(regions, ["US-HI", "US-AK"]);
    let text = scenario
        .outdial(&["plan", scenario.campaign_file().to_str().unwrap()])
        .output()
        .await
        .unwrap();
    assert!(
        String::from_utf8_lossy(&text.stdout).contains("→ outdial numbers search --area-code 718")
    );
}

/// Contacts whose window is closed now are counted as waiting with the next opening, and those
/// whose window can never be open in all their zones at once as outside every window.
#[tokio::test(flavor = "multi_thread")]
async fn windows_split_contacts_into_now_later_and_never() {
    // 09:00–09:30 local can never be open in all of area code 208's zones (Los Angeles, Denver,
    // Boise) at once; a CSV time zone pins the others to one zone each.
    // A zone whose local hour is nowhere near 09:00 now (the candidates are hours apart).
    let closed_zone = ["America/Anchorage", "Asia/Tokyo", "Europe/London"]
        .into_iter()
        .find(|zone| {
            let local = jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::get(zone).unwrap());
            !(8..=10).contains(&local.hour())
        })
        .unwrap();
    let mut csv = String::from("phone,name,timezone\n");
    for phone in numbers_in(208, 0, 4) {
        csv.push_str(&format!("{phone},Idaho,\n"));
    }
    for phone in numbers_in(212, 0, 3) {
        csv.push_str(&format!("{phone},Far,{closed_zone}\n"));
    }
    let scenario = Scenario::start(POOL, Settings::default(), &csv).await;
    let campaign = std::fs::read_to_string(scenario.campaign_file()).unwrap();
    let window = "[window]\nstart = \"09:00\"\nend = \"09:30\"\ndays = [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\", \"sat\", \"sun\"]\n";
    let campaign = campaign.replace(
        &campaign[campaign.find("[window]").unwrap()..campaign.find("[retry]").unwrap()],
        &format!("{window}\n"),
    );
    std::fs::write(scenario.campaign_file(), campaign).unwrap();

    let plan = plan_json(&scenario).await;

    assert_eq!(plan["window"]["never"], 4, "{plan}");
    assert_eq!(plan["window"]["waiting"], 3);
    assert_eq!(plan["window"]["open_now"], 0);
    assert!(
        plan["window"]["next_opening"]
            .as_str()
            .unwrap()
            .contains(closed_zone)
    );
}

/// With a cooldown per number that the pace outruns (1 s between a number's calls, 3.5 calls a
/// second over a pool of 8: a rate whose steps never land on the end of a cooldown, where the
/// run's milliseconds between choosing and sending would decide) and a daily cap, the local
/// numbers cannot take every local callee:
/// the plan, moving through time at the campaign's pace, spreads the calls over the tiers as the
/// run then does, number by number and tier by tier (within a few calls: the run's moments
/// jitter by milliseconds around the pace), where a plan blind to time would put all 24 callees
/// of 212 and 415 on their own area code's number.
#[tokio::test(flavor = "multi_thread")]
async fn plan_and_run_agree_on_load_and_tiers_under_caps_and_a_cooldown() {
    use common::{ALWAYS_OPEN, agent_with, campaign_text};
    use outdial::sandbox::SandboxConfig;
    let phones: Vec<String> = [(212, 16), (415, 8), (773, 8)]
        .iter()
        .flat_map(|(npa, n)| numbers_in(*npa, 0, *n))
        .collect();
    let pool = [
        "+12125550101",
        "+14155550102",
        "+13125550104",
        "+17135550105",
        "+13055550106",
        "+12065550107",
        "+14045550108",
        "+16025550109",
    ];
    let config = SandboxConfig {
        agents: agent_with(&pool),
        call_duration: std::time::Duration::ZERO.into(),
        ..SandboxConfig::default()
    };
    let campaign = campaign_text(&format!(
        "[pacing]\ncalls_per_second = 3.5\nmax_live_calls = 8\nreads_per_second = 50.0\n\n\
         [rotation]\nstrategy = \"region\"\nmax_calls_per_number_per_day = 9\n\
         min_seconds_between_calls_per_number = 1\n\n{ALWAYS_OPEN}"
    ));
    let scenario = Scenario::start_with(config, &campaign, &csv_of(&phones)).await;
    let plan = plan_json(&scenario).await;
    scenario.run().await;

    let area_code = plan["matches"]["area_code"].as_i64().unwrap_or(0);
    assert!(
        area_code < 16,
        "the cooldown holds the local numbers back: {area_code} of 24"
    );
    let placed = scenario.calls_per_caller_id().await;
    let planned = plan["load"].as_object().unwrap();
    for number in pool {
        let planned = planned
            .get(number)
            .map_or(0, |l| l["calls"].as_u64().unwrap()) as i64;
        let placed = placed.get(number).copied().unwrap_or(0) as i64;
        assert!(
            (planned - placed).abs() <= 3,
            "{number}: planned {planned}, placed {placed}"
        );
    }
    let entries = scenario.journal_entries().await;
    let mut run_tiers = std::collections::BTreeMap::new();
    for entry in entries.values() {
        *run_tiers.entry(entry.local_match.unwrap()).or_insert(0i64) += 1;
    }
    for (tier, planned) in plan["matches"].as_object().unwrap() {
        let tier: outdial::rotation::Match = serde_json::from_value(tier.as_str().into()).unwrap();
        let planned = planned.as_i64().unwrap();
        let ran = run_tiers.get(&tier).copied().unwrap_or(0);
        assert!(
            (planned - ran).abs() <= 3,
            "{tier:?}: planned {planned}, ran {ran}"
        );
    }
    assert!(plan["last_call_at"].is_string());
}
