//! `outdial demo`: the demo campaign (`campaigns/demo/`, compiled in) against an in-process
//! sandbox, end to end, with a fresh journal each time.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use super::Global;
use super::run::{self, Journaling};
use crate::campaign::{ApiKey, Campaign, Overrides};
use crate::error::Error;
use crate::progress::Display;
use crate::sandbox::{Latency, Sandbox, SandboxConfig};

const CAMPAIGN: &str = include_str!("../../campaigns/demo/demo.toml");
const CONTACTS: &str = include_str!("../../campaigns/demo/contacts.csv");

pub async fn run(global: &Global) -> Result<u8, Error> {
    let latency = Latency {
        min: Duration::from_millis(20),
        max: Duration::from_millis(120),
    };
    let config = SandboxConfig {
        seed: 7,
        latency,
        ..SandboxConfig::default()
    };
    let sandbox = Sandbox::start(config).await.map_err(|source| Error::Io {
        context: "cannot start the sandbox".into(),
        source,
    })?;
    let workdir = Workdir::create()?;
    let overrides = Overrides {
        api_base: Some(sandbox.synthflow_base()),
    };
    let campaign = Campaign::load(&workdir.0.join("demo.toml"), &overrides)?;
    println!(
        "outdial demo: campaign {} against the sandbox at {} (simulated latency 20–120 ms)\n",
        campaign.name,
        sandbox.synthflow_base()
    );
    let finish = run::launch(
        &campaign,
        ApiKey::new("sandbox-demo-key"),
        Journaling::StartOrResume,
        Display::chosen_by(global.quiet),
    )
    .await?;
    let code = run::conclude(&campaign, &finish);
    println!("{}", sandbox_verdict(&sandbox).await);
    sandbox.stop().await;
    Ok(code)
}

/// The sandbox's own record is the judge: how many create requests, and did anyone get two.
async fn sandbox_verdict(sandbox: &Sandbox) -> String {
    let mut per_phone: HashMap<String, usize> = HashMap::new();
    let received = sandbox.received().await;
    for call in received.iter().filter(|c| c.call_id.is_some()) {
        *per_phone
            .entry(call.phone.clone().unwrap_or_default())
            .or_default() += 1;
    }
    let twice = per_phone.values().filter(|&&n| n > 1).count();
    format!(
        "sandbox: received {} create requests, created calls to {} distinct phones, {} phone(s) called twice",
        received.len(),
        per_phone.len(),
        twice
    )
}

/// A scratch directory with the demo's files, removed when the demo ends.
struct Workdir(PathBuf);

impl Workdir {
    fn create() -> Result<Workdir, Error> {
        let dir = std::env::temp_dir().join(format!("outdial-demo-{}", std::process::id()));
        let io = |source| Error::Io {
            context: format!("cannot write the demo campaign to {}", dir.display()),
            source,
        };
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(io)?;
        std::fs::write(dir.join("demo.toml"), CAMPAIGN).map_err(io)?;
        std::fs::write(dir.join("contacts.csv"), CONTACTS).map_err(io)?;
        Ok(Workdir(dir))
    }
}

impl Drop for Workdir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
