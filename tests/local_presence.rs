//! Caller-ID choice as the sandbox saw it: local presence for `region`, evenness for `round-robin`.

mod common;

use std::collections::HashMap;

use common::{Scenario, Settings, csv_of, numbers_in};

/// One number in each of NY (212), CA (415), IL (312) and TX (713).
const POOL: &[&str] = &[
    "+12125550101",
    "+14155550102",
    "+13125550104",
    "+17135550105",
];

/// `region` calls from the callee's own area code whenever the pool has it, and from a number
/// in the callee's state when only that exists.
#[tokio::test(flavor = "multi_thread")]
async fn region_uses_the_local_number_then_one_in_the_same_state() {
    let expected: Vec<(u16, &str)> = vec![
        (212, "+12125550101"),
        (415, "+14155550102"),
        (312, "+13125550104"),
        (713, "+17135550105"),
        (718, "+12125550101"), // New York, no 718 number in the pool
        (650, "+14155550102"), // California
        (773, "+13125550104"), // Illinois
        (214, "+17135550105"), // Texas
    ];
    let mut phones = Vec::new();
    let mut caller_for = HashMap::new();
    for (npa, caller) in &expected {
        for phone in numbers_in(*npa, 0, 12) {
            caller_for.insert(phone.clone(), *caller);
            phones.push(phone);
        }
    }
    let scenario = Scenario::start(POOL, Settings::default(), &csv_of(&phones)).await;

    scenario.run().await;

    let received = scenario.sandbox.received().await;
    assert_eq!(received.len(), phones.len());
    for call in received {
        let callee = call.phone.unwrap();
        assert_eq!(
            call.from_phone_number.as_deref(),
            Some(caller_for[&callee]),
            "caller ID for {callee}"
        );
    }
}

/// Among equally local numbers, `region` takes the least recently used, so they share the load.
#[tokio::test(flavor = "multi_thread")]
async fn region_shares_calls_among_equally_local_numbers() {
    let pool = [
        "+12125550101",
        "+12125550111",
        "+12125550121",
        "+14155550102",
    ];
    let phones = numbers_in(212, 0, 61);
    let scenario = Scenario::start(&pool, Settings::default(), &csv_of(&phones)).await;

    scenario.run().await;

    let per_caller = scenario.calls_per_caller_id().await;
    assert_eq!(
        per_caller.get("+14155550102"),
        None,
        "the non-local number is never needed"
    );
    let counts: Vec<usize> = pool[..3]
        .iter()
        .map(|n| per_caller.get(*n).copied().unwrap_or(0))
        .collect();
    assert_eq!(counts.iter().sum::<usize>(), 61);
    assert!(
        counts.iter().max().unwrap() - counts.iter().min().unwrap() <= 1,
        "uneven: {counts:?}"
    );
}

/// `round-robin` spreads calls evenly over the whole pool, whatever the callees' area codes.
#[tokio::test(flavor = "multi_thread")]
async fn round_robin_spreads_calls_evenly() {
    let pool = [
        "+12125550101",
        "+14155550102",
        "+13125550104",
        "+17135550105",
        "+13055550106",
        "+16175550107",
        "+12065550108",
    ];
    let mut phones = numbers_in(212, 0, 70);
    phones.extend(numbers_in(907, 0, 33));
    let settings = Settings {
        strategy: "round-robin",
        ..Settings::default()
    };
    let scenario = Scenario::start(&pool, settings, &csv_of(&phones)).await;

    scenario.run().await;

    let per_caller = scenario.calls_per_caller_id().await;
    let counts: Vec<usize> = pool
        .iter()
        .map(|n| per_caller.get(*n).copied().unwrap_or(0))
        .collect();
    assert_eq!(counts.iter().sum::<usize>(), 103);
    assert!(
        counts.iter().max().unwrap() - counts.iter().min().unwrap() <= 1,
        "uneven: {counts:?}"
    );
}

/// A caller ID the API refuses (listed in the campaign but not attached to the agent) leaves the
/// rotation with a warning naming it; its contacts are called from the other numbers, nobody lost.
#[tokio::test(flavor = "multi_thread")]
async fn a_refused_caller_id_leaves_the_rotation_with_a_warning() {
    let phones = numbers_in(415, 0, 30);
    let scenario = Scenario::start(&["+12125550101"], Settings::default(), &csv_of(&phones)).await;
    let campaign = std::fs::read_to_string(scenario.campaign_file()).unwrap();
    let listed = campaign.replace(
        "strategy = \"region\"",
        "strategy = \"region\"\nnumbers = [\"+14155550102\", \"+12125550101\"]",
    );
    std::fs::write(scenario.campaign_file(), listed).unwrap();

    let out = scenario
        .outdial(&["run", scenario.campaign_file().to_str().unwrap()])
        .output()
        .await
        .unwrap();

    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.matches("caller ID +14155550102 refused").count(),
        1,
        "{stderr}"
    );
    // Requests already in flight when the first refusal came back may meet it too; none after.
    let refused = scenario
        .sandbox
        .received()
        .await
        .iter()
        .filter(|c| c.status == 400)
        .count();
    assert!(
        (1..=Settings::default().max_live_calls as usize).contains(&refused),
        "{refused} refusals"
    );
    scenario.assert_each_called_once(&phones).await;
    assert_eq!(
        scenario.calls_per_caller_id().await.get("+12125550101"),
        Some(&30)
    );
}
