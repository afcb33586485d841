//! The `outdial` binary: parse, set up logging, run, map the outcome to an exit code.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use clap::Parser;
use outdial::cli::{self, Cli};
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.global.verbose, cli.global.quiet);
    let runtime = tokio::runtime::Runtime::new().expect("the async runtime starts");
    match runtime.block_on(cli::run(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            // Not `eprintln!`: a closed stderr must not turn an error into a panic.
            let _ = writeln!(std::io::stderr().lock(), "error: {}", chain(&error));
            ExitCode::from(error.exit_code())
        }
    }
}

/// Logs go to stderr; `RUST_LOG` wins over `-v`/`-q`. The HTTP crates are held at `info` whatever
/// is asked: at debug they print request URLs, and ours carry callees' phone numbers in the query.
/// Colour only on a terminal and without `NO_COLOR` (no-color.org), so that log files and pipes
/// get plain text.
fn init_logging(verbose: u8, quiet: bool) {
    let level = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("outdial={level},warn")))
        .add_directive("reqwest=info".parse().expect("a valid directive"))
        .add_directive("hyper=info".parse().expect("a valid directive"))
        .add_directive("hyper_util=info".parse().expect("a valid directive"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour_on_stderr())
        // Its report of a failed write is an `eprintln!`, which panics when stderr is closed.
        .log_internal_errors(false)
        .with_target(false)
        .init();
}

fn colour_on_stderr() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// The error and its causes, each once.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
        source = cause_source(source);
    }
    text
}

fn cause_source<'a>(
    error: Option<&'a (dyn std::error::Error + 'static)>,
) -> Option<&'a (dyn std::error::Error + 'static)> {
    error.and_then(|e| e.source())
}
