//! `outdial sandbox`: the vendor simulator as a standalone server.

use std::io::Write;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use clap::Args;

use crate::error::Error;
use crate::sandbox::answers::{AnswerSettings, Factor, TierLift};
use crate::sandbox::{
    self, AccountRefusal, AgentSpec, CallLength, DEFAULT_INVENTORY, DurationShape, Faults, Latency,
    Limits, OutcomeMix, RetryAfterForm, SandboxConfig, Share, StuckStatus, TimeScale, Usd,
};

#[derive(Debug, Args)]
pub struct SandboxArgs {
    /// Loopback address to listen on (port 0 picks a free one)
    #[arg(long, default_value = "127.0.0.1:8700")]
    pub addr: SocketAddr,
    /// An outbound agent and its attached pool: ID=E164,E164,… (repeatable; default: the demo agent)
    #[arg(long = "agent", value_name = "ID=E164,…")]
    pub agents: Vec<AgentSpec>,
    /// The only bearer key accepted (default: any non-empty key)
    #[arg(long, value_name = "KEY")]
    pub api_key: Option<String>,
    /// Seed for everything random (ids, latency, call lengths and outcomes, faults)
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Latency added to every answer, in ms: "50" or "20..80"
    #[arg(long, default_value = "0", value_name = "MS")]
    pub latency_ms: Latency,
    /// Simulated length of each call, in seconds: "2", or "30..90" drawn per call
    #[arg(long, default_value = "2", value_name = "SECONDS")]
    pub call_seconds: CallLength,
    /// Terminal statuses by weight, e.g. completed=60,no-answer=20,busy=10,left_voicemail=5,failed=5
    #[arg(long, default_value = "completed=1", value_name = "STATUS=WEIGHT,…")]
    pub outcomes: OutcomeMix,
    /// Simulated seconds per real second for calls (60: a 90 s call ends after 1.5 s)
    #[arg(long, default_value = "1", value_name = "N")]
    pub time_scale: TimeScale,
    /// Answer 429 to a create while this many calls are live (default: no limit)
    #[arg(long, value_name = "N")]
    pub max_live: Option<NonZeroU32>,
    /// Answer 429 to creates beyond this many within any one second (default: no limit)
    #[arg(long, value_name = "R")]
    pub max_cps: Option<NonZeroU32>,
    /// Numbers for sale on the numbers API, spread over every US and Canadian area code
    #[arg(long, default_value_t = DEFAULT_INVENTORY as u32, value_name = "N",
          value_parser = clap::value_parser!(u32).range(..=MAX_INVENTORY))]
    pub inventory: u32,
    /// The numbers API's prepaid wallet at start-up, in US dollars
    #[arg(long, default_value = "50", value_name = "USD")]
    pub wallet: Usd,
    /// The sandbox clock's moment at start-up, RFC 3339 (default: now); it runs at --time-scale
    #[arg(long, value_name = "TIMESTAMP")]
    pub clock_start: Option<jiff::Timestamp>,
    /// Boxed so the `Command` enum stays small (clippy's large_enum_variant).
    #[command(flatten)]
    pub faults: Box<FaultArgs>,
    #[command(flatten)]
    pub answers: Box<AnswerArgs>,
}

/// The answer model's flags; each tuning flag needs `--answers`, and each left out keeps its
/// documented default ([`AnswerSettings::default`]).
#[derive(Debug, Args)]
#[command(next_help_heading = "How people answer (off unless --answers; drawn from --seed)")]
pub struct AnswerArgs {
    /// Decide calls by the answer model (callee's hour and weekday, locality, carrier labels)
    /// instead of --outcomes
    #[arg(long)]
    pub answers: bool,
    /// Saturdays and Sundays multiply the answer chance by this (default: 0.6)
    #[arg(long, value_name = "SHARE", requires = "answers")]
    pub answer_weekend_factor: Option<Share>,
    /// Share of a healthy number's answered calls the callee hangs up within seconds (default: 0.1)
    #[arg(long, value_name = "SHARE", requires = "answers")]
    pub answer_short_share: Option<Share>,
    /// Answer-chance multipliers by locality tier, e.g. area_code=1.3,region=1.1 (default: all 1)
    #[arg(long, value_name = "TIER=FACTOR,…", requires = "answers")]
    pub answer_lift: Option<TierLift>,
    /// A caller ID making more than N calls within 24 sandbox hours is labelled (default: 100)
    #[arg(long, value_name = "N", requires = "answers")]
    pub label_day_calls: Option<u32>,
    /// A caller ID making more than M calls within a sandbox minute is labelled (default: 10)
    #[arg(long, value_name = "M", requires = "answers")]
    pub label_minute_calls: Option<u32>,
    /// How long a label lasts, in sandbox days (default: 7)
    #[arg(long, value_name = "DAYS", requires = "answers")]
    pub label_days: Option<Factor>,
    /// A labelled number's answer chance is multiplied by this (default: 0.25)
    #[arg(long, value_name = "SHARE", requires = "answers")]
    pub label_answer_factor: Option<Share>,
    /// Share of a labelled number's calls that carriers block: failed, forbidden (default: 0.3)
    #[arg(long, value_name = "SHARE", requires = "answers")]
    pub label_blocked: Option<Share>,
    /// Share of a labelled number's answered calls that are short (default: 0.6)
    #[arg(long, value_name = "SHARE", requires = "answers")]
    pub label_short: Option<Share>,
}

impl AnswerArgs {
    /// The answer model these flags ask for, `None` without `--answers`.
    fn settings(&self) -> Result<Option<AnswerSettings>, Error> {
        if !self.answers {
            return Ok(None);
        }
        let mut settings = AnswerSettings::default();
        let labelling = &mut settings.labelling;
        let shares = [
            (&mut settings.weekend_factor, self.answer_weekend_factor),
            (&mut settings.short_share, self.answer_short_share),
            (&mut labelling.answer_factor, self.label_answer_factor),
            (&mut labelling.blocked, self.label_blocked),
            (&mut labelling.short, self.label_short),
        ];
        for (share, given) in shares {
            if let Some(given) = given {
                *share = given;
            }
        }
        if let Some(lift) = self.answer_lift {
            settings.lift = lift;
        }
        if let Some(calls) = self.label_day_calls {
            settings.labelling.day_calls = calls;
        }
        if let Some(calls) = self.label_minute_calls {
            settings.labelling.minute_calls = calls;
        }
        if let Some(days) = self.label_days {
            settings.labelling.days = days;
        }
        settings
            .check()
            .map_err(|error| Error::Usage(format!("--label-days: {error}")))?;
        Ok(Some(settings))
    }
}

/// Plenty for any test or demo; bounds the start-up time and memory of a typo like 10000000.
const MAX_INVENTORY: i64 = 100_000;

/// The fault flags; each left out keeps [`Faults::default`] (no fault).
#[derive(Debug, Args)]
#[command(next_help_heading = "Faults (each rolled from --seed; a SHARE is 0..1)")]
pub struct FaultArgs {
    /// Share of creates answered 500, creating nothing
    #[arg(long, value_name = "SHARE")]
    pub server_errors: Option<Share>,
    /// Share of creates that create the call, then drop the connection without an answer
    #[arg(long, value_name = "SHARE")]
    pub dropped: Option<Share>,
    /// Share of creates that create the call, then answer after --slow-ms
    #[arg(long, value_name = "SHARE")]
    pub slow: Option<Share>,
    /// Share of creates refused 400 because the callee cannot be reached (the contact's own
    /// refusal, the same text for everyone)
    #[arg(long, value_name = "SHARE")]
    pub unreachable: Option<Share>,
    /// How late a slow answer comes, in ms (default: 20000, past the dialer's 15 s timeout)
    #[arg(long, value_name = "MS")]
    pub slow_ms: Option<u64>,
    /// Share of all /v2 answers that take --tail-ms instead of --latency-ms
    #[arg(long, value_name = "SHARE")]
    pub tail: Option<Share>,
    /// The latency tail's delay, in ms (default: 3000)
    #[arg(long, value_name = "MS")]
    pub tail_ms: Option<u64>,
    /// Chance that a create outside a burst starts a burst of 429s (nothing created)
    #[arg(long, value_name = "CHANCE")]
    pub bursts: Option<Share>,
    /// Creates answered 429 per burst (default: 3)
    #[arg(long, value_name = "N")]
    pub burst_length: Option<NonZeroU32>,
    /// Retry-After seconds on burst 429s (default: no header, as the vendor documents none)
    #[arg(long, value_name = "SECONDS")]
    pub burst_retry_after: Option<u32>,
    /// Refuse every /v2 request with 402 (out of credit) or 403 (no access)
    #[arg(long, value_name = "402|403")]
    pub refuse: Option<AccountRefusal>,
    /// The vendor's clock is this many ms ahead of ours (negative: behind): start_time,
    /// from_date and the Date header
    #[arg(long, value_name = "MS", allow_hyphen_values = true)]
    pub clock_skew_ms: Option<i64>,
    /// The vendor's hosts' clocks disagree by up to this many ms: each call's start_time is its
    /// creation less a random part of it, so a call may show an earlier start than one created
    /// before it
    #[arg(long, value_name = "MS")]
    pub start_spread_ms: Option<u32>,
    /// Every call shows this status and never ends: in-progress, queue, initiated, paused, or
    /// unheard (a status nobody documents)
    #[arg(long, value_name = "STATUS")]
    pub stuck_status: Option<StuckStatus>,
    /// GET /v2/calls/{id} answers 404 for every call and the list shows none, as for calls the
    /// vendor lost
    #[arg(long)]
    pub forget_calls: bool,
    /// Share of calls (0..1) that GET /v2/calls never lists, though GET /v2/calls/{id} knows
    /// them
    #[arg(long, value_name = "SHARE")]
    pub list_omits: Option<Share>,
    /// How a call's duration is written: whole (the vendor's), float, string or negative
    #[arg(long, value_name = "SHAPE")]
    pub duration_shape: Option<DurationShape>,
    /// How burst 429s write Retry-After: seconds, http_date (that many seconds from now) or
    /// huge (twenty digits)
    #[arg(long, value_name = "FORM")]
    pub retry_after_form: Option<RetryAfterForm>,
    /// Every refusal quotes the request's bearer token back (to test that clients scrub it)
    #[arg(long)]
    pub quote_key: bool,
}

impl FaultArgs {
    /// The faults these flags ask for, checked.
    fn faults(&self) -> Result<Faults, Error> {
        let mut faults = Faults::default();
        let shares = [
            (&mut faults.server_errors, self.server_errors),
            (&mut faults.dropped, self.dropped),
            (&mut faults.slow, self.slow),
            (&mut faults.unreachable, self.unreachable),
            (&mut faults.tail.share, self.tail),
            (&mut faults.bursts.chance, self.bursts),
            (&mut faults.list_omits, self.list_omits),
        ];
        for (share, given) in shares {
            if let Some(given) = given {
                *share = given;
            }
        }
        if let Some(ms) = self.slow_ms {
            faults.slow_delay = Duration::from_millis(ms);
        }
        if let Some(ms) = self.tail_ms {
            faults.tail.delay = Duration::from_millis(ms);
        }
        if let Some(length) = self.burst_length {
            faults.bursts.length = length;
        }
        faults.bursts.retry_after = self.burst_retry_after;
        faults.refuse = self.refuse;
        faults.clock_skew_ms = self.clock_skew_ms.unwrap_or(0);
        faults.start_spread_ms = self.start_spread_ms.unwrap_or(0);
        faults.stuck = self.stuck_status;
        faults.forget_calls = self.forget_calls;
        faults.quote_key = self.quote_key;
        faults.retry_after_form = self.retry_after_form.unwrap_or_default();
        faults.duration_shape = self.duration_shape.unwrap_or_default();
        faults.check().map_err(|error| {
            Error::Usage(format!(
                "--server-errors, --dropped, --slow, --unreachable: {error}"
            ))
        })?;
        Ok(faults)
    }
}

pub async fn run(args: SandboxArgs) -> Result<u8, Error> {
    if !args.addr.ip().is_loopback() {
        return Err(Error::Usage(format!(
            "--addr {}: the sandbox serves on loopback only, e.g. 127.0.0.1:0",
            args.addr
        )));
    }
    let addr = args.addr;
    let config = config(args)?;
    let io = |context: &str| {
        let context = context.to_owned();
        move |source| Error::Io { context, source }
    };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(io(&format!("cannot listen on {addr}")))?;
    let addr = listener
        .local_addr()
        .map_err(io("cannot read the bound address"))?;
    println!("listening on http://{addr}");
    let _ = std::io::stdout().flush();
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    sandbox::serve(listener, config, shutdown)
        .await
        .map_err(io("the sandbox stopped"))?;
    Ok(0)
}

/// The sandbox these flags describe, checked before anything is bound.
fn config(args: SandboxArgs) -> Result<SandboxConfig, Error> {
    Ok(SandboxConfig {
        faults: args.faults.faults()?,
        answers: args.answers.settings()?,
        clock_start: args.clock_start,
        agents: args.agents,
        api_key: args.api_key,
        seed: args.seed,
        latency: args.latency_ms,
        call_duration: args.call_seconds,
        outcomes: args.outcomes,
        time_scale: args.time_scale,
        limits: Limits {
            max_live: args.max_live,
            max_cps: args.max_cps,
        },
        inventory: args.inventory as usize,
        wallet: args.wallet,
    })
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};

    fn config_of(flags: &[&str]) -> Result<SandboxConfig, Error> {
        let argv = ["outdial", "sandbox"].iter().chain(flags);
        let cli = Cli::try_parse_from(argv).expect("the flags parse");
        match cli.command {
            Command::Sandbox(args) => config(args),
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn no_flags_keep_the_plain_sandbox() {
        let config = config_of(&[]).unwrap();
        let plain = SandboxConfig::default();
        assert_eq!(config.faults, plain.faults);
        assert_eq!(config.limits, plain.limits);
        assert_eq!(config.call_duration, plain.call_duration);
        assert_eq!(config.outcomes, plain.outcomes);
        assert_eq!(config.time_scale, plain.time_scale);
        assert_eq!(config.answers, None, "the answer model is off by default");
        assert_eq!(config.clock_start, None);
    }

    /// `--answers` turns the model on with its defaults; each tuning flag reaches its field.
    #[test]
    fn answer_flags_reach_the_config() {
        let plain = config_of(&["--answers"]).unwrap();
        assert_eq!(plain.answers, Some(AnswerSettings::default()));
        let config = config_of(&[
            "--answers",
            "--answer-weekend-factor=0.5",
            "--answer-short-share=0.2",
            "--answer-lift=area_code=1.5,none=0.9",
            "--label-day-calls=3",
            "--label-minute-calls=2",
            "--label-days=0.5",
            "--label-answer-factor=0.1",
            "--label-blocked=0.4",
            "--label-short=0.7",
            "--clock-start=2026-12-01T16:00:00Z",
        ])
        .unwrap();
        let settings = config.answers.unwrap();
        assert_eq!(settings.weekend_factor.get(), 0.5);
        assert_eq!(settings.short_share.get(), 0.2);
        assert_eq!(settings.lift.area_code.get(), 1.5);
        assert_eq!(settings.lift.region.get(), 1.0);
        assert_eq!(settings.lift.none.get(), 0.9);
        let labelling = settings.labelling;
        assert_eq!((labelling.day_calls, labelling.minute_calls), (3, 2));
        assert_eq!(labelling.days.get(), 0.5);
        let shares = [labelling.answer_factor, labelling.blocked, labelling.short];
        assert_eq!(shares.map(Share::get), [0.1, 0.4, 0.7]);
        assert_eq!(
            config.clock_start.map(|start| start.to_string()).as_deref(),
            Some("2026-12-01T16:00:00Z")
        );
    }

    /// A tuning flag without `--answers`, or a bad value, is refused before anything starts.
    #[test]
    fn answer_flags_without_the_model_or_with_bad_values_are_refused() {
        let refused = |flags: &[&str]| {
            let argv = ["outdial", "sandbox"].iter().chain(flags);
            Cli::try_parse_from(argv).is_err()
        };
        assert!(refused(&["--label-day-calls=3"]));
        assert!(refused(&["--answers", "--answer-lift=local=2"]));
        assert!(refused(&["--answers", "--label-blocked=1.5"]));
        assert!(refused(&["--answers", "--label-days=-1"]));
        assert!(refused(&["--clock-start=yesterday"]));
        let error = config_of(&["--answers", "--label-days=4000"]).unwrap_err();
        assert!(error.to_string().contains("--label-days"), "{error}");
    }

    #[test]
    fn every_knob_reaches_the_config() {
        let config = config_of(&[
            "--call-seconds=30..90",
            "--outcomes=completed=60,busy=40",
            "--time-scale=60",
            "--max-live=5",
            "--max-cps=2",
            "--server-errors=0.1",
            "--dropped=0.2",
            "--slow=0.3",
            "--slow-ms=16000",
            "--tail=0.05",
            "--tail-ms=900",
            "--bursts=0.01",
            "--burst-length=4",
            "--burst-retry-after=2",
            "--refuse=403",
        ])
        .unwrap();
        assert_eq!(config.call_duration.to_string(), "30..90");
        assert_eq!(config.outcomes.to_string(), "completed=60,busy=40");
        assert_eq!(config.time_scale.factor(), 60.0);
        assert_eq!(config.limits.max_live.map(NonZeroU32::get), Some(5));
        assert_eq!(config.limits.max_cps.map(NonZeroU32::get), Some(2));
        let faults = config.faults;
        let shares = [
            faults.server_errors,
            faults.dropped,
            faults.slow,
            faults.tail.share,
        ];
        assert_eq!(shares.map(Share::get), [0.1, 0.2, 0.3, 0.05]);
        assert_eq!(faults.slow_delay, Duration::from_millis(16_000));
        assert_eq!(faults.tail.delay, Duration::from_millis(900));
        assert_eq!(faults.bursts.chance.get(), 0.01);
        assert_eq!(faults.bursts.length.get(), 4);
        assert_eq!(faults.bursts.retry_after, Some(2));
        assert_eq!(faults.refuse, Some(AccountRefusal::Forbidden));
    }

    #[test]
    fn create_shares_over_one_are_a_usage_error() {
        let error = config_of(&["--dropped=0.6", "--slow=0.6"]).unwrap_err();
        assert!(matches!(error, Error::Usage(_)), "{error:?}");
    }

    /// The numbers API's start-up state comes from --inventory and --wallet, with defaults.
    #[test]
    fn inventory_and_wallet_reach_the_config() {
        let plain = config_of(&[]).unwrap();
        assert_eq!(
            (plain.inventory, plain.wallet),
            (500, Usd::from_dollars(50))
        );
        let config = config_of(&["--inventory=1200", "--wallet=12.50"]).unwrap();
        assert_eq!(config.inventory, 1200);
        assert_eq!(config.wallet, Usd::from_cents(1250));
        let cli = |flag| Cli::try_parse_from(["outdial", "sandbox", flag]).is_err();
        assert!(cli("--inventory=100001"));
        assert!(cli("--wallet=1.234"));
    }
}
