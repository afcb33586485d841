//! `outdial completions SHELL` and `outdial man`: shell completions (clap_complete) and a man
//! page (clap_mangen), both generated from the same clap definition as the parser, so they
//! cannot drift from the flags.

use clap::{Args, CommandFactory};
use clap_complete::Shell;

use super::{Cli, output};
use crate::error::Error;

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for
    shell: Shell,
}

pub fn completions(args: CompletionsArgs) -> Result<u8, Error> {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "outdial", &mut script);
    output::text(String::from_utf8_lossy(&script));
    Ok(0)
}

pub fn man() -> Result<u8, Error> {
    let mut page = Vec::new();
    clap_mangen::Man::new(Cli::command())
        .render(&mut page)
        .map_err(|source| Error::Io {
            context: "cannot render the man page".into(),
            source,
        })?;
    output::text(String::from_utf8_lossy(&page));
    Ok(0)
}
