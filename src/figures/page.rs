//! The report as one self-contained HTML page: styles inline, charts as inline SVG, no script
//! and no network at all (its Content-Security-Policy forbids both, so a value that slipped
//! through as markup still could not run or fetch anything). Laid out with maud, which escapes
//! every value it is given: contact names, CSV cells, reasons, the campaign's name.

use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::charts::{self, Chart, ChartError};
use super::{Figures, Rate, Source, percent, percent_with_interval};

/// No script, no fetch, no frame: styles and inline images only.
const POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:";

/// Readable from a phone to a laptop, and on paper: charts scale to the width, tables scroll
/// sideways on a narrow screen, and each chart stays whole on a printed page.
const STYLE: &str = "
body { font-family: system-ui, sans-serif; margin: 0 auto; max-width: 60rem; padding: 1rem;
       color: #111; line-height: 1.4; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.2rem; margin-top: 2rem; }
figure { margin: 1rem 0; break-inside: avoid; }
figure svg { width: 100%; height: auto; display: block; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { padding: 0.25rem 0.6rem; border-bottom: 1px solid #ccc; text-align: left; }
td.n { text-align: right; }
code { font-size: 0.9em; }
.funnel { display: flex; flex-wrap: wrap; gap: 0.5rem 1.5rem; }
@media print { body { max-width: none; } .scroll { overflow: visible; } }
";

/// The whole page.
pub fn render(figures: &Figures) -> Result<String, ChartError> {
    let charts = charts::all(figures)?;
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta http-equiv="Content-Security-Policy" content=(POLICY);
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "outdial report: " (figures.campaign) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                h1 { "Campaign " (figures.campaign) }
                p {
                    "Figures of " (figures.as_of.strftime("%Y-%m-%d %H:%M:%S UTC"))
                    @if figures.source == Source::RunningCopy {
                        " — a run is going: these are the figures of a copy of its journal."
                    }
                }
                (funnel(figures))
                @for chart in &charts { (figure(chart)) }
                (callers(figures))
                (tiers(figures))
                (arms(figures))
                (coverage(figures))
                (reasons(figures))
            }
        }
    };
    Ok(page.into_string())
}

fn figure(chart: &Chart) -> Markup {
    html! {
        // The title is drawn in the chart; the label gives it to screen readers too.
        figure.chart aria-label=(chart.title) {
            // plotters escapes the text it writes into the SVG (see `charts`).
            (PreEscaped(&chart.svg))
        }
    }
}

fn funnel(figures: &Figures) -> Markup {
    let u = &figures.funnel;
    html! {
        h2 { "Funnel" }
        div.funnel {
            span { (u.contacts) " contacts" }
            span { (u.attempted) " attempted" }
            span { (u.connected) " connected" }
            span { (u.contact) " contact (a person)" }
            span { (u.completed) " completed" }
        }
        p {
            "Penetration " (percent(u.penetration)) " of contacts attempted · saturation "
            (u.saturation.map_or("–".to_owned(), |s| format!("{s:.2}")))
            " attempts per attempted contact (" (u.attempts) " attempts)."
        }
    }
}

fn callers(figures: &Figures) -> Markup {
    html! {
        h2 { "Caller IDs" }
        div.scroll { table {
            thead { tr {
                th { "Caller ID" } th { "Attempts" } th { "Connected (95% interval)" }
                th { "Short calls" } th { "Today / cap" } th { "Health" }
            } }
            tbody { @for c in &figures.callers { tr {
                td { (c.caller_id) }
                td.n { (c.attempts) }
                td.n { (percent_with_interval(&c.connection)) }
                td.n { (percent(c.short_call_rate)) }
                td.n { (c.calls_today) " / " (c.cap.map_or("–".to_owned(), |cap| cap.to_string())) }
                td {
                    (c.health.name())
                    @if let Some(until) = c.resting_until { " until " (until.strftime("%Y-%m-%d %H:%M UTC")) }
                }
            } } }
        } }
    }
}

fn tiers(figures: &Figures) -> Markup {
    let rows: Vec<(&str, &Rate)> = figures
        .tiers
        .iter()
        .map(|t| (t.tier.name(), &t.connection))
        .collect();
    html! {
        h2 { "Local presence" }
        div.scroll { table {
            thead { tr { th { "Caller ID shares the callee's" } th { "Attempts" } th { "Connected (95% interval)" } } }
            tbody { @for (tier, rate) in rows { tr {
                td { (tier) } td.n { (rate.trials) } td.n { (percent_with_interval(rate)) }
            } } }
        } }
    }
}

fn arms(figures: &Figures) -> Markup {
    html! {
        @if !figures.arms.is_empty() {
            h2 { "A/B arms" }
            div.scroll { table {
                thead { tr {
                    th { "Arm" } th { "Contacts" } th { "Reached (95% interval)" }
                    th { "Connected (95% interval)" } th { "Against the first arm" }
                } }
                tbody { @for (index, arm) in figures.arms.iter().enumerate() { tr {
                    td { (arm.strategy) }
                    td.n { (arm.contacts) }
                    td.n { (percent_with_interval(&arm.reached)) }
                    td.n { (percent_with_interval(&arm.connection)) }
                    td { @if index == 0 { "—" } @else {
                        (format!("z = {:+.2}, ", arm.z_against_first))
                        (if arm.significant { "significant (p < 0.05)" } else { "not significant" })
                    } }
                } } }
            } }
        }
    }
}

fn coverage(figures: &Figures) -> Markup {
    html! {
        h2 { "Coverage" }
        div.scroll { table {
            thead { tr { th { "Area code" } th { "State" } th { "Contacts" } th { "Reached" } th { "Fill with" } } }
            tbody { @for a in &figures.area_codes { tr {
                td { (a.area_code) }
                td { (a.state.as_deref().unwrap_or("")) }
                td.n { (a.contacts) }
                td.n { (a.reached) }
                td { @match &a.fill { Some(search) => code { (search) }, None => "in the pool" } }
            } } }
        } }
        div.scroll { table {
            thead { tr { th { "State" } th { "Contacts" } th { "Reached" } th { "Fill with" } } }
            tbody { @for s in &figures.states { tr {
                td { (s.state) }
                td.n { (s.contacts) }
                td.n { (s.reached) }
                td { @match &s.fill { Some(search) => code { (search) }, None => "in the pool" } }
            } } }
        } }
    }
}

fn reasons(figures: &Figures) -> Markup {
    html! {
        h2 { "Skipped and held" }
        ul {
            @for (reason, n) in &figures.skipped { li { "skipped, " (reason.name()) ": " (n) } }
            @for (reason, n) in &figures.held { li { "held, " (reason.name()) ": " (n) } }
            li { "uncertain creates to look up: " (figures.api.uncertain) }
            li { "unknown outcomes: " (figures.api.unknown_outcomes) }
            @if let Some(requests) = &figures.api.requests {
                li { "latest run's requests to the call API: " (requests.to_string()) }
            }
        }
        @if !figures.skipped_examples.is_empty() {
            div.scroll { table {
                thead { tr { th { "Line" } th { "Name or cell" } th { "Why skipped" } } }
                tbody { @for e in &figures.skipped_examples { tr.skipped {
                    td.n { (e.line) } td.who { (e.written) } td { (e.reason) }
                } } }
            } }
        }
    }
}
