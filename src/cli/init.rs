//! `outdial init [DIR]`: a commented campaign file and a small contacts CSV to start from. Both
//! run as written against `outdial sandbox` (its default address and its demo agent), so a
//! newcomer sees a whole run before touching a real account.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Args;

use super::output;
use crate::error::Error;

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Where to write campaign.toml and contacts.csv (created if missing)
    #[arg(default_value = ".")]
    dir: PathBuf,
}

/// The campaign file `init` writes: every key with its default and why one would change it.
const CAMPAIGN: &str = r#"# An outdial campaign. Every key is explained in the README ("The campaign file").
# As written it runs against the local sandbox:
#   outdial sandbox &                                  # a simulator of the vendor, on 127.0.0.1:8700
#   SYNTHFLOW_API_KEY=any outdial run campaign.toml
# For a real campaign: set `agent` to your outbound agent's model_id, remove `base_url` (or set
# `region`), set the real calling hours under [window], and export your SYNTHFLOW_API_KEY.

name = "my-first-campaign"           # names the journal (.outdial/<name>/ beside this file)
agent = "0ae2859d-c25c-4d56-a9f3-809387b725ce"   # the sandbox's demo agent and its pool of 12
contacts = "contacts.csv"            # a `phone` column (or Phone Number, Mobile, Tel…), `name`, any others
default_country = "US"               # for phones written without +country
# contacts_delimiter = ";"           # default: detected from the header line
# contacts_encoding = "windows-1252" # default: UTF-8, or UTF-16 with a BOM

[api]
base_url = "http://127.0.0.1:8700/v2"   # `outdial sandbox`; overrides `region`
# region = "us"                      # "us", "eu" or "global": your Synthflow workspace's cluster
# key_env = "SYNTHFLOW_API_KEY"      # the variable the key is read from

[pacing]
calls_per_second = 1.0               # call creations per second
max_live_calls = 5                   # calls live at once

[rotation]
strategy = "region"                  # local presence: a caller ID of the callee's area code or state
# max_calls_per_number_per_day = 100

[window]                             # calling hours in each callee's local time
start = "00:00"                      # open all day so the sandbox trial runs at any hour:
end = "23:59"                        # a real campaign wants "09:00" to "20:00"
days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]

[retry]
max_attempts = 3                     # per contact, all causes together
redial_after_minutes = 60            # after no-answer, busy or voicemail

[suppress]
files = []                           # do-not-call lists: one phone per line, or a CSV
"#;

/// The contacts `init` writes: phones as people write them, a name, and a prompt variable.
const CONTACTS: &str = "phone,name,plan
+1 (415) 555-0142,Ada Lovelace,pro
212-555-0178,Grace Hopper,basic
(312) 555-0119,Alan Turing,pro
+17135550163,Katherine Johnson,plus
305.555.0127,Edsger Dijkstra,basic
";

pub fn run(args: InitArgs) -> Result<u8, Error> {
    let files = [
        (args.dir.join("campaign.toml"), CAMPAIGN),
        (args.dir.join("contacts.csv"), CONTACTS),
    ];
    if let Some((taken, _)) = files.iter().find(|(path, _)| path.exists()) {
        return Err(Error::Usage(format!(
            "{} already exists: outdial init never overwrites a file; pick another folder, e.g. `outdial init my-campaign`",
            taken.display()
        )));
    }
    std::fs::create_dir_all(&args.dir).map_err(|source| io_error(&args.dir, source))?;
    for (path, text) in &files {
        write_new(path, text)?;
    }
    let campaign = files[0].0.display();
    output::line(format_args!(
        "wrote {campaign} and {}\ntry it against the sandbox:\n  outdial sandbox &\n  SYNTHFLOW_API_KEY=any outdial run {campaign}",
        files[1].0.display()
    ));
    Ok(0)
}

/// Creates `path` only if it does not exist yet, so a file that appeared since the check is
/// still never overwritten.
fn write_new(path: &Path, text: &str) -> Result<(), Error> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .and_then(|mut file| file.write_all(text.as_bytes()))
        .map_err(|source| io_error(path, source))
}

fn io_error(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        context: format!("cannot write {}", path.display()),
        source,
    }
}
