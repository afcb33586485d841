//! The report's charts, drawn by plotters' SVG backend into strings for the HTML page. plotters
//! escapes every text it writes into the SVG (`<`, `>`, `&`, quotes), so a label cannot become
//! markup; the page embeds the SVG as it comes.
//!
//! Colours are the Okabe–Ito palette, told apart by people with any common colour blindness;
//! the heat map is one hue from white to blue, so it reads in grey as well.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{Figures, Rate, percent};

/// A drawn chart: its title (also drawn in it) and its SVG.
pub struct Chart {
    pub title: String,
    pub svg: String,
}

/// What stopped plotters; never expected, since it draws into a string.
#[derive(Debug, thiserror::Error)]
#[error("cannot draw the chart {title:?}: {why}")]
pub struct ChartError {
    title: String,
    why: String,
}

const SIZE: (u32, u32) = (720, 340);
const FONT: &str = "sans-serif";
const BLUE: RGBColor = RGBColor(0x00, 0x72, 0xB2);
const ORANGE: RGBColor = RGBColor(0xE6, 0x9F, 0x00);
const VERMILLION: RGBColor = RGBColor(0xD5, 0x5E, 0x00);
const GREEN: RGBColor = RGBColor(0x00, 0x9E, 0x73);
const GREY: RGBColor = RGBColor(0xEE, 0xEE, 0xEE);

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;
type Drawn = Result<(), Box<dyn std::error::Error>>;

/// Every chart of the report, in the page's order.
pub fn all(figures: &Figures) -> Result<Vec<Chart>, ChartError> {
    let callers: Vec<(String, Rate)> = figures
        .callers
        .iter()
        .map(|c| (short_number(&c.caller_id), c.connection))
        .collect();
    let tiers: Vec<(String, Rate)> = figures
        .tiers
        .iter()
        .map(|t| (t.tier.name().to_owned(), t.connection))
        .collect();
    Ok(vec![
        draw(
            "Outcome funnel: contacts by their latest call",
            |area, title| funnel(area, title, figures),
        )?,
        draw(
            "Connection rate by the callee's local hour and weekday",
            |area, title| heat_map(area, title, figures),
        )?,
        draw(
            "Connection rate per caller ID (bars: 95% Wilson interval)",
            |area, title| rates(area, title, &callers),
        )?,
        draw(
            "Does local presence pay? Connection rate per locality tier (95% interval)",
            |area, title| rates(area, title, &tiers),
        )?,
        draw(
            "Calls started over time, against the pacing limit",
            |area, title| over_time(area, title, figures),
        )?,
        draw("Ring time before answer or give-up", |area, title| {
            ring_times(area, title, figures)
        })?,
    ])
}

/// Draws one chart into an SVG string, its title as the caption.
fn draw(title: &str, paint: impl FnOnce(&Area, &str) -> Drawn) -> Result<Chart, ChartError> {
    let mut svg = String::new();
    let failed = |why: Box<dyn std::error::Error>| ChartError {
        title: title.to_owned(),
        why: why.to_string(),
    };
    {
        let area = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        area.fill(&WHITE).map_err(|e| failed(e.into()))?;
        paint(&area, title).map_err(failed)?;
        area.present().map_err(|e| failed(e.into()))?;
    }
    Ok(Chart {
        title: title.to_owned(),
        svg,
    })
}

/// A note in the middle of a chart that has nothing to plot yet, so it is never blank.
fn nothing_yet(area: &Area, note: &str) -> Drawn {
    let (width, height) = area.dim_in_pixel();
    let style = TextStyle::from((FONT, 18).into_font()).color(&BLACK).pos(
        plotters::style::text_anchor::Pos::new(
            plotters::style::text_anchor::HPos::Center,
            plotters::style::text_anchor::VPos::Center,
        ),
    );
    area.draw_text(note, &style, (width as i32 / 2, height as i32 / 2))?;
    Ok(())
}

fn funnel(area: &Area, title: &str, figures: &Figures) -> Drawn {
    let u = &figures.funnel;
    let stages = [
        ("contacts", u.contacts),
        ("attempted", u.attempted),
        ("connected", u.connected),
        ("contact", u.contact),
        ("completed", u.completed),
    ];
    let top = u.contacts.max(1) as f64 * 1.15;
    let mut chart = ChartBuilder::on(area)
        .caption(title, (FONT, 20))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d(-0.5f64..4.5, 0f64..top)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(5)
        .x_label_formatter(&|x| label_at(*x, &stages.map(|(name, _)| name.to_owned())))
        .y_desc("contacts")
        .draw()?;
    chart.draw_series(stages.iter().enumerate().map(|(i, (_, n))| {
        let x = i as f64;
        Rectangle::new([(x - 0.35, 0.0), (x + 0.35, *n as f64)], BLUE.filled())
    }))?;
    chart.draw_series(stages.iter().enumerate().map(|(i, (_, n))| {
        Text::new(
            n.to_string(),
            (i as f64 - 0.1, *n as f64 + top * 0.03),
            (FONT, 15),
        )
    }))?;
    Ok(())
}

fn heat_map(area: &Area, title: &str, figures: &Figures) -> Drawn {
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    let mut chart = ChartBuilder::on(area)
        .caption(title, (FONT, 20))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(48)
        .build_cartesian_2d(-0.5f64..23.5, -0.5f64..6.5)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_labels(24)
        .y_labels(7)
        .x_label_formatter(&|x| label_at(*x, &(0..24).map(|h| h.to_string()).collect::<Vec<_>>()))
        // Monday on top: row 6 is Monday.
        .y_label_formatter(&|y| label_at(6.0 - *y, &DAYS.map(str::to_owned)))
        .x_desc("callee's local hour (white: no calls; darker: more answered)")
        .draw()?;
    let cell = |weekday: u8, hour: u8| {
        let (x, y) = (f64::from(hour), 6.0 - f64::from(weekday - 1));
        [(x - 0.45, y - 0.45), (x + 0.45, y + 0.45)]
    };
    let empty = (1..=7).flat_map(|d| (0..24).map(move |h| (d, h)));
    chart.draw_series(empty.map(|(d, h)| Rectangle::new(cell(d, h), GREY.filled())))?;
    chart.draw_series(figures.heat_map.iter().map(|c| {
        let rate = c.connected as f64 / c.attempts as f64;
        Rectangle::new(cell(c.weekday, c.hour), shade(rate).filled())
    }))?;
    Ok(())
}

/// White (0%) to the palette's blue (100%).
fn shade(rate: f64) -> RGBColor {
    let mix = |full: u8| (255.0 - (255.0 - f64::from(full)) * rate.clamp(0.0, 1.0)) as u8;
    RGBColor(mix(BLUE.0), mix(BLUE.1), mix(BLUE.2))
}

/// Connection rates as bars with their 95% intervals as error bars.
fn rates(area: &Area, title: &str, rows: &[(String, Rate)]) -> Drawn {
    if rows.iter().all(|(_, r)| r.trials == 0) {
        chart_frame(area, title)?;
        return nothing_yet(area, "no ended calls yet");
    }
    let labels: Vec<String> = rows.iter().map(|(name, _)| name.clone()).collect();
    let mut chart = ChartBuilder::on(area)
        .caption(title, (FONT, 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(56)
        .build_cartesian_2d(-0.5f64..rows.len() as f64 - 0.5, 0f64..1.0)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(rows.len())
        .x_label_formatter(&|x| label_at(*x, &labels))
        .y_label_formatter(&|y| percent(Some(*y)))
        .y_desc("connected")
        .draw()?;
    let known = || rows.iter().enumerate().filter(|(_, (_, r))| r.trials > 0);
    chart.draw_series(known().map(|(i, (_, r))| {
        let x = i as f64;
        Rectangle::new(
            [(x - 0.3, 0.0), (x + 0.3, r.rate.unwrap_or(0.0))],
            ORANGE.filled(),
        )
    }))?;
    chart.draw_series(known().map(|(i, (_, r))| {
        ErrorBar::new_vertical(
            i as f64,
            r.low.unwrap_or(0.0),
            r.rate.unwrap_or(0.0),
            r.high.unwrap_or(0.0),
            BLACK.stroke_width(2),
            12,
        )
    }))?;
    Ok(())
}

fn over_time(area: &Area, title: &str, figures: &Figures) -> Drawn {
    let t = &figures.calls_over_time;
    let minutes = t.bucket_seconds as f64 / 60.0;
    let busiest = t.calls.iter().copied().max().unwrap_or(0) as f64;
    let limits = [Some(t.pacing_limit), t.caps_limit];
    let shown = |limit: &f64| *limit <= busiest.max(1.0) * 3.0;
    let top = limits
        .iter()
        .flatten()
        .filter(|l| shown(l))
        .fold(busiest.max(1.0), |a, b| a.max(*b))
        * 1.15;
    let end = t.calls.len() as f64 * minutes;
    let mut chart = ChartBuilder::on(area)
        .caption(title, (FONT, 20))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d(0f64..end, 0f64..top)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_desc(format!(
            "minutes since the campaign began ({} s bars); pacing limit {:.0} per bar",
            t.bucket_seconds, t.pacing_limit
        ))
        .y_desc("calls started")
        .draw()?;
    let started = t.calls.iter().enumerate().filter(|(_, n)| **n > 0);
    chart.draw_series(started.map(|(i, n)| {
        let x = i as f64 * minutes;
        Rectangle::new([(x, 0.0), (x + minutes * 0.9, *n as f64)], BLUE.filled())
    }))?;
    for (limit, colour) in [
        (t.pacing_limit, VERMILLION),
        (t.caps_limit.unwrap_or(f64::INFINITY), GREEN),
    ] {
        if shown(&limit) {
            chart.draw_series(LineSeries::new(
                [(0.0, limit), (end, limit)],
                colour.stroke_width(3),
            ))?;
        }
    }
    Ok(())
}

fn ring_times(area: &Area, title: &str, figures: &Figures) -> Drawn {
    let r = &figures.ring_times;
    if r.calls.iter().all(|n| *n == 0) {
        chart_frame(area, title)?;
        let note = format!(
            "no ringing times: the vendor gave none for {} ended calls",
            r.unknown
        );
        return nothing_yet(area, &note);
    }
    let width = r.bucket_seconds as f64;
    let top = r.calls.iter().copied().max().unwrap_or(1) as f64 * 1.15;
    let mut chart = ChartBuilder::on(area)
        .caption(title, (FONT, 20))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d(0f64..width * r.calls.len() as f64, 0f64..top)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_desc("seconds of ringing (the last bar: that long or longer)")
        .y_desc("calls")
        .draw()?;
    let rang = r.calls.iter().enumerate().filter(|(_, n)| **n > 0);
    chart.draw_series(rang.map(|(i, n)| {
        let x = i as f64 * width;
        Rectangle::new([(x, 0.0), (x + width * 0.9, *n as f64)], GREEN.filled())
    }))?;
    Ok(())
}

/// The caption alone, for a chart with nothing to plot.
fn chart_frame(area: &Area, title: &str) -> Drawn {
    area.titled(title, (FONT, 20))?;
    Ok(())
}

/// `206…0108` for `+12065550108`: area code and last four digits, so that a pool's labels fit
/// side by side (the table beside the chart has the whole numbers).
fn short_number(e164: &str) -> String {
    let digits = e164.trim_start_matches("+1");
    match (
        digits.get(..3),
        digits.len().checked_sub(4).and_then(|at| digits.get(at..)),
    ) {
        (Some(code), Some(last)) if digits.len() == 10 => format!("{code}…{last}"),
        _ => e164.to_owned(),
    }
}

/// The label of the category at `x` when `x` is (nearly) a whole index, else nothing.
fn label_at(x: f64, labels: &[String]) -> String {
    let index = x.round();
    if (x - index).abs() > 0.01 || index < 0.0 {
        return String::new();
    }
    labels.get(index as usize).cloned().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Text plotters writes into the SVG is escaped: a label cannot become markup.
    #[test]
    fn chart_text_is_escaped() {
        let hostile = "<script>alert(1)</script>";
        let chart = draw(hostile, |area, title| {
            area.titled(title, (FONT, 20))?;
            Ok(())
        })
        .expect("draws");
        assert!(!chart.svg.contains("<script"), "{}", chart.svg);
        assert!(chart.svg.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    }
}
