//! `outdial wallet`: the Flowyte prepaid balance that purchases and monthly rentals draw on.

use clap::Args;

use super::output;
use super::{Global, connect};
use crate::api::Wallet;
use crate::error::Error;

#[derive(Debug, Args)]
pub struct WalletArgs {
    /// Print the wallet as JSON
    #[arg(long)]
    json: bool,
}

pub async fn run(args: WalletArgs, global: &Global) -> Result<u8, Error> {
    let wallet = connect::flowyte(global)?.wallet().await?;
    if args.json {
        output::json(&wallet);
    } else {
        output::line(format_args!(
            "balance: {}",
            output::dollars(wallet.balance_usd)
        ));
        output::line(format_args!("auto-reload: {}", auto_reload(&wallet)));
    }
    Ok(0)
}

fn auto_reload(wallet: &Wallet) -> String {
    if !wallet.auto_reload_enabled {
        return "off (top up in the Flowyte dashboard, Billing)".to_owned();
    }
    match (
        wallet.auto_reload_threshold_usd,
        wallet.auto_reload_amount_usd,
    ) {
        (Some(threshold), Some(amount)) => format!(
            "on: adds {} when the balance falls below {}",
            output::dollars(amount),
            output::dollars(threshold)
        ),
        _ => "on".to_owned(),
    }
}
