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
