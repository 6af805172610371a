//! The HTML page: one `<figure id="chart-...">` per chart, each an inline
//! SVG drawn with plotters' SVG backend, a table of the same numbers (the
//! page reads without the charts) and a caption saying how to read it.
//!
//! Charts use plain f64 coordinates and draw their row and column labels
//! themselves at the mapped pixel positions: plotters' automatic ticks
//! cannot be told to sit in the middle of a bar or a heat map cell.

use std::fmt::Write as _;

use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::Error;
use crate::data::{CohortMatrix, Count, Interval, RunReport, funnel, ratio};

/// Every figure the page holds, in page order.
pub const CHART_IDS: [&str; 11] = [
    "chart-pyramid",
    "chart-funnel",
    "chart-cohorts",
    "chart-tiers",
    "chart-quadrants",
    "chart-value",
    "chart-transitions",
    "chart-benefits",
    "chart-bgnbd",
    "chart-propensity",
    "chart-offers",
];

const WIDTH: u32 = 800;
const FONT: &str = "sans-serif";
/// Cohorts and month offsets shown in the heat map (the newest ones).
const COHORT_LIMIT: usize = 24;
const TRANSITION_LIMIT: usize = 20;

const DARK: RGBColor = RGBColor(0x2b, 0x5c, 0x8a);
const LIGHT: RGBColor = RGBColor(0xa9, 0xc6, 0xe3);
const ACCENT: RGBColor = RGBColor(0xd9, 0x6c, 0x2c);
const GREY: RGBColor = RGBColor(0x88, 0x88, 0x88);
const TEXT: RGBColor = RGBColor(0x22, 0x22, 0x22);

impl<E: std::error::Error + Send + Sync> From<DrawingAreaErrorKind<E>> for Error {
    fn from(error: DrawingAreaErrorKind<E>) -> Self {
        Error::Draw(error.to_string())
    }
}

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

/// The whole page, without naming the file its numbers came from.
pub fn render_html(report: &RunReport) -> Result<String, Error> {
    render_page(report, None)
}

/// The whole page; `source` names the run report file it was made from
/// (its file name), when there is one.
pub fn render_page(report: &RunReport, source: Option<&str>) -> Result<String, Error> {
    let mut page = String::new();
    let title = format!(
        "strata run report: {} ({}) as of {}",
        report.preset, report.model_version, report.as_of
    );
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{}</h1>\n\
         <p class=\"meta\">{} users, {} events read, {} bad rows. {}</p>\n",
        escape(&title),
        escape(&title),
        report.users,
        report.events,
        report.bad_rows,
        match source {
            Some(file) => format!(
                "Made by <code>strata report</code> from the run report <code>{}</code>.",
                escape(file)
            ),
            None => "Made by <code>strata recompute</code> from the run's numbers.".to_owned(),
        }
    );
    page.push_str(&headline(report));
    page.push_str("<h2>Lifecycle layers</h2>\n");
    page.push_str(&pyramid(report)?);
    page.push_str(&funnel_figure(report)?);
    page.push_str("<h2>Retention</h2>\n");
    page.push_str(&cohorts(&report.cohorts)?);
    page.push_str("<h2>Value and satisfaction</h2>\n");
    page.push_str(&distribution(
        "chart-tiers",
        "Value tiers (RFM score bands); users who never bought have no tier.",
        &report.tiers,
        report.users,
    )?);
    page.push_str(&quadrant_grid(&report.quadrants, report.users));
    page.push_str(&value_by_layer(report)?);
    page.push_str("<h2>Layer transitions</h2>\n");
    page.push_str(&transitions(report)?);
    page.push_str("<h2>Offers made</h2>\n");
    page.push_str(&benefit_mix(report)?);
    page.push_str("<h2>Model checks</h2>\n");
    page.push_str(&bg_nbd(report)?);
    page.push_str(&propensity(report)?);
    page.push_str(&offers(report)?);
    page.push_str(&predictions(report));
    if !report.models.notes.is_empty() {
        page.push_str("<h3>Notes</h3>\n<ul>\n");
        for note in &report.models.notes {
            let _ = writeln!(page, "<li>{}</li>", escape(note));
        }
        page.push_str("</ul>\n");
    }
    page.push_str("</body>\n</html>\n");
    Ok(page)
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:860px;margin:2em auto;\
padding:0 1em;color:#222}h1{font-size:1.4em}h2{margin-top:2em;border-bottom:1px solid #ccc}\
.meta{color:#555}figure{margin:1.5em 0}figure svg{max-width:100%;height:auto;display:block}\
figcaption{color:#444;font-size:.92em;margin-top:.4em}table{border-collapse:collapse;\
font-size:.85em;margin-top:.6em}th,td{border:1px solid #ddd;padding:2px 8px;text-align:right}\
th:first-child,td:first-child{text-align:left}th{background:#f4f4f4}\
#headline{display:flex;flex-wrap:wrap;gap:.6em;margin:1em 0}\
#headline .stat{flex:1 1 8em;border:1px solid #ddd;border-radius:4px;padding:.5em .7em}\
#headline .value{display:block;font-size:1.5em;font-weight:600}\
#headline .label{color:#555;font-size:.85em}\
.legend{display:flex;flex-wrap:wrap;gap:1.2em;font-size:.9em;margin:.3em 0}\
.legend .mark{display:inline-block;width:14px;height:10px;margin-right:.35em;vertical-align:middle}\
.legend .mark.line{height:0;border-top:2px solid}.legend .mark.dashed{height:0;border-top:2px dashed}\
.quadrant-grid{display:grid;grid-template-columns:7.5em 1fr 1fr;gap:4px;align-items:stretch}\
.quadrant-grid .cell{border:1px solid #ccc;border-radius:4px;padding:.6em;min-height:5.5em}\
.quadrant-grid .cell b{display:block;font-size:1.05em}.quadrant-grid .cell .count{display:block;\
font-size:1.2em;margin:.2em 0}.quadrant-grid .cell .meaning{display:block;font-size:.85em}\
.quadrant-grid .axis{color:#444;font-size:.9em;align-self:center;text-align:center}";

fn figure(id: &str, svg: &str, table: &str, caption: &str) -> String {
    figure_with_legend(id, &[], svg, table, caption)
}

/// How a legend entry is drawn: a filled box, a line, a dashed line.
#[derive(Clone, Copy)]
enum Mark {
    Fill,
    Line,
    Dashed,
}

/// A figure whose legend sits above its chart, in the page rather than in
/// the SVG, so that it never covers what the chart draws.
fn figure_with_legend(
    id: &str,
    legend: &[(&str, RGBColor, Mark)],
    svg: &str,
    table: &str,
    caption: &str,
) -> String {
    let mut entries = String::new();
    for (label, color, mark) in legend {
        let RGBColor(red, green, blue) = *color;
        let (class, style) = match mark {
            Mark::Fill => ("mark", format!("background:rgb({red},{green},{blue})")),
            Mark::Line => (
                "mark line",
                format!("border-color:rgb({red},{green},{blue})"),
            ),
            Mark::Dashed => (
                "mark dashed",
                format!("border-color:rgb({red},{green},{blue})"),
            ),
        };
        let _ = write!(
            entries,
            "<span><span class=\"{class}\" style=\"{style}\"></span>{}</span>",
            escape(label)
        );
    }
    let legend = if legend.is_empty() {
        String::new()
    } else {
        format!("<div class=\"legend\">{entries}</div>\n")
    };
    format!(
        "<figure id=\"{id}\">\n{legend}{svg}\n{table}\n<figcaption>{}</figcaption>\n</figure>\n",
        escape(caption)
    )
}

/// `12,345`: thousands grouped for the headline.
fn grouped(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// `12,345.68`, grouped, two decimals.
fn money(value: f64) -> String {
    let cents = (value.abs() * 100.0).round() as u64;
    let sign = if value < 0.0 && cents > 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", grouped(cents / 100), cents % 100)
}

/// The headline row: users, buyers, revenue, mean predicted lifetime
/// value, users with offers. Each number also sits unformatted in
/// `data-value`, for scripts and tests.
fn headline(report: &RunReport) -> String {
    let value = &report.value;
    let currency = if value.currency.is_empty() {
        String::new()
    } else {
        format!(" {}", value.currency)
    };
    let mean = value.mean_predicted_value();
    let stats: [(&str, String, String, String); 5] = [
        (
            "users",
            report.users.to_string(),
            grouped(report.users),
            "users".to_owned(),
        ),
        (
            "buyers",
            value.buyers.to_string(),
            grouped(value.buyers),
            format!(
                "buyers ({} of users)",
                percent(ratio(value.buyers, report.users))
            ),
        ),
        (
            "revenue",
            format!("{:.2}", value.revenue),
            format!("{}{currency}", money(value.revenue)),
            "revenue before the as-of time".to_owned(),
        ),
        (
            "mean-lifetime-value",
            mean.map_or_else(|| "none".to_owned(), |mean| format!("{mean:.2}")),
            mean.map_or_else(
                || "none (no user has one)".to_owned(),
                |mean| format!("{}{currency}", money(mean)),
            ),
            if value.horizon_days > 0 {
                format!(
                    "mean predicted lifetime value, next {} days ({} users)",
                    value.horizon_days,
                    grouped(value.valued_users)
                )
            } else {
                "mean predicted lifetime value".to_owned()
            },
        ),
        (
            "users-with-offers",
            report.models.users_with_benefits.to_string(),
            grouped(report.models.users_with_benefits),
            format!(
                "users with offers ({} of users)",
                percent(ratio(report.models.users_with_benefits, report.users))
            ),
        ),
    ];
    let mut html = String::from("<section id=\"headline\">\n");
    for (key, raw, shown, label) in stats {
        let _ = writeln!(
            html,
            "<div class=\"stat\" data-key=\"{key}\" data-value=\"{}\"><span class=\"value\">{}</span>\
             <span class=\"label\">{}</span></div>",
            escape(&raw),
            escape(&shown),
            escape(&label)
        );
    }
    html.push_str("</section>\n");
    html
}

/// The loyalty x satisfaction quadrants as the 2x2 grid (loyalty down the
/// side, satisfaction across), each cell shaded by its share of users and
/// saying what the quadrant means; users without a quadrant below it.
fn quadrant_grid(counts: &[Count], users: u64) -> String {
    let users_in = |name: &str| {
        counts
            .iter()
            .filter(|count| count.name == name)
            .map(|count| count.count)
            .sum::<u64>()
    };
    let cells = [
        ("ANGEL", "loyal and satisfied: nudge towards higher spend"),
        (
            "FREELOADER",
            "loyal, not satisfied: buys for the price; low-cost benefit bundles",
        ),
        (
            "HOSTAGE",
            "satisfied, not loyal: likes it but is not committed",
        ),
        ("DANGER", "neither loyal nor satisfied: likely to leave"),
    ];
    let widest = cells
        .iter()
        .map(|(name, _)| users_in(name))
        .max()
        .unwrap_or(0);
    let cell = |(name, meaning): (&str, &str)| {
        let count = users_in(name);
        let share = if widest == 0 {
            0.0
        } else {
            count as f64 / widest as f64
        };
        let RGBColor(red, green, blue) = heat(0.75 * share);
        let ink = if share > 0.55 { "#fff" } else { "#222" };
        format!(
            "<div class=\"cell\" data-quadrant=\"{name}\" data-users=\"{count}\" \
             style=\"background:rgb({red},{green},{blue});color:{ink}\"><b>{name}</b>\
             <span class=\"count\">{} users ({})</span><span class=\"meaning\">{}</span></div>",
            grouped(count),
            percent(ratio(count, users)),
            escape(meaning)
        )
    };
    let mut grid = String::from("<div class=\"quadrant-grid\">\n<div></div>");
    grid.push_str("<div class=\"axis\">high satisfaction</div>");
    grid.push_str("<div class=\"axis\">low satisfaction</div>\n");
    grid.push_str("<div class=\"axis\">high loyalty</div>");
    grid.push_str(&cell(cells[0]));
    grid.push_str(&cell(cells[1]));
    grid.push_str("\n<div class=\"axis\">low loyalty</div>");
    grid.push_str(&cell(cells[2]));
    grid.push_str(&cell(cells[3]));
    grid.push_str("\n</div>");
    let rows: Vec<Vec<String>> = std::iter::once(
        ["quadrant", "users", "share of users"]
            .map(String::from)
            .to_vec(),
    )
    .chain(counts.iter().map(|count| {
        vec![
            count.name.clone(),
            count.count.to_string(),
            percent(ratio(count.count, users)),
        ]
    }))
    .collect();
    let caption = "Loyalty x satisfaction quadrants: behavioural loyalty (repeat purchase, \
                   frequency, share of wallet) down the side, attitudinal satisfaction (ratings, \
                   reviews, intent) across; the darker the cell, the more users. Users without a \
                   satisfaction signal have no quadrant (the table's \"none\" row).";
    figure("chart-quadrants", &grid, &table(&rows), caption)
}

/// Mean predicted lifetime value per layer (churned states with their
/// layer), deepest layer on top like the pyramid.
fn value_by_layer(report: &RunReport) -> Result<String, Error> {
    let value = &report.value;
    let currency = if value.currency.is_empty() {
        "".to_owned()
    } else {
        format!(" ({})", value.currency)
    };
    let mut layers: Vec<_> = value.layers.iter().collect();
    layers.sort_by_key(|layer| std::cmp::Reverse(layer.index));
    let caption = format!(
        "Predicted lifetime value by layer{}: the mean over the layer's users who have a \
         prediction (bars), and the layer's total. Revenue so far: {}{currency} from {} buyers.",
        if value.horizon_days > 0 {
            format!(" over the next {} days", value.horizon_days)
        } else {
            String::new()
        },
        money(value.revenue),
        grouped(value.buyers)
    );
    let rows: Vec<Vec<String>> = std::iter::once(
        [
            "layer".to_owned(),
            "users with a value".to_owned(),
            format!("mean{currency}"),
            format!("total{currency}"),
        ]
        .to_vec(),
    )
    .chain(layers.iter().map(|layer| {
        vec![
            format!("{} {}", layer.index, layer.name),
            layer.valued_users.to_string(),
            layer.mean().map_or_else(|| "none".to_owned(), money),
            money(layer.predicted_value),
        ]
    }))
    .collect();
    let widest = layers
        .iter()
        .filter_map(|layer| layer.mean())
        .fold(0.0f64, f64::max);
    if widest <= 0.0 {
        return Ok(figure(
            "chart-value",
            &empty_svg("no user has a predicted lifetime value in this run")?,
            &table(&rows),
            &caption,
        ));
    }
    let bars: Vec<Bar> = layers
        .iter()
        .map(|layer| Bar {
            label: layer.name.clone(),
            spans: layer
                .mean()
                .map_or_else(Vec::new, |mean| vec![(0.0, mean.max(0.0), DARK)]),
            note: match layer.mean() {
                Some(mean) => format!(
                    "{} each, {} in all",
                    money(mean),
                    money(layer.predicted_value)
                ),
                None => "none (no user with a value)".to_owned(),
            },
        })
        .collect();
    let svg = bar_chart(&BarChart {
        bars: &bars,
        x_range: 0.0..widest * 1.8,
        x_desc: &format!("mean predicted lifetime value{currency}"),
        x_format: &|value| {
            if *value <= widest * 1.05 {
                format!("{value:.0}")
            } else {
                String::new()
            }
        },
        reference: None,
    })?;
    Ok(figure("chart-value", &svg, &table(&rows), &caption))
}

/// The benefits recommended: users per benefit, and the expected
/// incremental profit they add up to.
fn benefit_mix(report: &RunReport) -> Result<String, Error> {
    let value = &report.value;
    let currency = if value.currency.is_empty() {
        "".to_owned()
    } else {
        format!(" ({})", value.currency)
    };
    let total: f64 = value
        .benefits
        .iter()
        .map(|benefit| benefit.expected_incremental_profit)
        .sum();
    let caption = format!(
        "The offers made: how many users each benefit is recommended to (a user may have \
         several, best first), and the expected incremental profit over those users; {} users \
         have at least one, {} expected incremental profit in all{currency}.",
        grouped(report.models.users_with_benefits),
        money(total)
    );
    let rows: Vec<Vec<String>> = std::iter::once(
        [
            "benefit".to_owned(),
            "kind".to_owned(),
            "users".to_owned(),
            format!("expected incremental profit{currency}"),
            format!("per user{currency}"),
        ]
        .to_vec(),
    )
    .chain(value.benefits.iter().map(|benefit| {
        vec![
            benefit.benefit_id.clone(),
            benefit.kind.clone(),
            benefit.users.to_string(),
            money(benefit.expected_incremental_profit),
            ratio(1, benefit.users).map_or_else(
                || "none".to_owned(),
                |share| money(benefit.expected_incremental_profit * share),
            ),
        ]
    }))
    .collect();
    let widest = value
        .benefits
        .iter()
        .map(|benefit| benefit.users)
        .max()
        .unwrap_or(0);
    if widest == 0 {
        return Ok(figure(
            "chart-benefits",
            &empty_svg("no benefit is recommended to anyone in this run")?,
            &table(&rows),
            &caption,
        ));
    }
    let bars: Vec<Bar> = value
        .benefits
        .iter()
        .map(|benefit| Bar {
            label: format!("{} ({})", benefit.benefit_id, benefit.kind),
            spans: vec![(0.0, benefit.users as f64, DARK)],
            note: format!(
                "{} users, {:+.2} expected profit",
                grouped(benefit.users),
                benefit.expected_incremental_profit
            ),
        })
        .collect();
    let svg = bar_chart(&BarChart {
        bars: &bars,
        x_range: 0.0..widest as f64 * 1.9,
        x_desc: "users the benefit is recommended to",
        x_format: &|value| {
            if *value <= widest as f64 * 1.05 {
                users_format(value)
            } else {
                String::new()
            }
        },
        reference: None,
    })?;
    Ok(figure("chart-benefits", &svg, &table(&rows), &caption))
}

/// Churn and next order: each candidate's backtest figure, the reliability
/// curve of the served churn method in deciles, what is served and why, and
/// what is switched off. Tables only: a few numbers per candidate.
fn predictions(report: &RunReport) -> String {
    let Some(check) = &report.models.predictions else {
        return String::new();
    };
    let mut html = String::from("<section id=\"predictions\">\n<h3>Churn and next order</h3>\n");
    if let Some(churn) = &check.churn {
        let mut rows = vec![vec![
            "churn candidate".to_owned(),
            "Brier".to_owned(),
            "served".to_owned(),
        ]];
        for candidate in &churn.candidates {
            rows.push(vec![
                format!(
                    "{}{}",
                    candidate.name,
                    if candidate.baseline {
                        " (baseline)"
                    } else {
                        ""
                    }
                ),
                format!("{:.4}", candidate.brier),
                if candidate.name == churn.served {
                    "yes"
                } else {
                    ""
                }
                .to_owned(),
            ]);
        }
        let _ = writeln!(
            html,
            "<p>Churn: no purchase in the {} days after as-of; backtested on {} held-out buyers \
             (base rate {}). {} served: {}.</p>",
            churn.horizon_days,
            churn.holdout_users,
            percent(Some(churn.base_rate)),
            escape(&churn.served),
            escape(&churn.reason)
        );
        html.push_str(&table(&rows));
        if let Some(served) = churn.candidates.iter().find(|c| c.name == churn.served) {
            let mut curve = vec![vec![
                "decile".to_owned(),
                "users".to_owned(),
                "predicted".to_owned(),
                "observed".to_owned(),
            ]];
            for (index, bin) in served.reliability.iter().enumerate() {
                curve.push(vec![
                    (index + 1).to_string(),
                    grouped(bin.users),
                    format!("{:.3}", bin.predicted),
                    format!("{:.3}", bin.observed),
                ]);
            }
            html.push_str("\n<p>Reliability of the served churn probability:</p>\n");
            html.push_str(&table(&curve));
        }
    }
    if let Some(order) = &check.next_order {
        let _ = writeln!(
            html,
            "\n<p>Next order: median absolute error in days on {} repeat buyers who ordered \
             within {} days: strata {:.1}, last order + median gap {:.1}. {} served: {}.</p>",
            order.holdout_users,
            order.holdout_days,
            order.model_error_days,
            order.baseline_error_days,
            escape(&order.served),
            escape(&order.reason)
        );
    }
    for off in &check.switched_off {
        let _ = writeln!(
            html,
            "<p>{} switched off: {}</p>",
            escape(&off.prediction),
            escape(&off.reason)
        );
    }
    html.push_str("</section>\n");
    html
}

/// A table; cells are escaped, the first row is the header.
fn table(rows: &[Vec<String>]) -> String {
    let mut html = String::from("<table>\n");
    for (index, row) in rows.iter().enumerate() {
        let tag = if index == 0 { "th" } else { "td" };
        html.push_str("<tr>");
        for cell in row {
            let _ = write!(html, "<{tag}>{}</{tag}>", escape(cell));
        }
        html.push_str("</tr>\n");
    }
    html.push_str("</table>");
    html
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            _ => out.push(character),
        }
    }
    out
}

fn percent(value: Option<f64>) -> String {
    value.map_or_else(
        || "none".to_owned(),
        |value| format!("{:.1}%", 100.0 * value),
    )
}

fn number(value: Option<f64>, decimals: usize) -> String {
    value.map_or_else(|| "none".to_owned(), |value| format!("{value:.decimals$}"))
}

/// Draws into a fresh SVG of `height` pixels and returns its markup.
fn svg(height: u32, draw: impl FnOnce(&Area<'_>) -> Result<(), Error>) -> Result<String, Error> {
    let mut markup = String::new();
    {
        let root = SVGBackend::with_string(&mut markup, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE)?;
        draw(&root)?;
        root.present()?;
    }
    Ok(markup)
}

/// An SVG that says why there is no chart, so every figure still has one.
fn empty_svg(message: &str) -> Result<String, Error> {
    svg(80, |root| {
        root.draw(&Text::new(
            message.to_owned(),
            (WIDTH as i32 / 2, 40),
            text_style(17).pos(Pos::new(HPos::Center, VPos::Center)),
        ))?;
        Ok(())
    })
}

fn text_style(size: u32) -> TextStyle<'static> {
    (FONT, size).into_font().color(&TEXT)
}

/// Pixels a label needs, by plotters' own estimate plus room to breathe.
fn label_width(labels: impl IntoIterator<Item = usize>) -> u32 {
    let longest = labels.into_iter().max().unwrap_or(0) as u32;
    (longest * 8 + 16).clamp(40, 300)
}

/// One bar of a horizontal bar chart: coloured spans on one row, and a note
/// written after the last span.
struct Bar {
    label: String,
    spans: Vec<(f64, f64, RGBColor)>,
    note: String,
}

struct BarChart<'a> {
    bars: &'a [Bar],
    x_range: std::ops::Range<f64>,
    x_desc: &'a str,
    x_format: &'a dyn Fn(&f64) -> String,
    /// A dashed vertical line, e.g. what chance gives (named in the
    /// figure's legend).
    reference: Option<f64>,
}

/// Horizontal bars, first bar on top.
fn bar_chart(chart: &BarChart<'_>) -> Result<String, Error> {
    let rows = chart.bars.len().max(1);
    let height = 74 + 36 * rows as u32;
    let labels_width = label_width(chart.bars.iter().map(|bar| bar.label.len()));
    svg(height, |root| {
        let mut context = ChartBuilder::on(root)
            .margin(12)
            .margin_right(24)
            .x_label_area_size(40)
            .y_label_area_size(labels_width)
            .build_cartesian_2d(chart.x_range.clone(), 0f64..rows as f64)?;
        context
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(0)
            .y_label_formatter(&|_| String::new())
            .x_labels(8)
            .x_label_formatter(chart.x_format)
            .x_desc(chart.x_desc)
            .label_style(text_style(15))
            .axis_desc_style(text_style(16))
            .light_line_style(WHITE)
            .bold_line_style(RGBColor(0xe4, 0xe4, 0xe4))
            .draw()?;
        let top = |index: usize| (rows - index) as f64;
        for (index, bar) in chart.bars.iter().enumerate() {
            let (upper, lower) = (top(index) - 0.18, top(index) - 0.82);
            for (start, end, color) in &bar.spans {
                context.draw_series(std::iter::once(Rectangle::new(
                    [(*start, upper), (*end, lower)],
                    color.filled(),
                )))?;
            }
            let end = bar
                .spans
                .iter()
                .map(|span| span.1)
                .fold(chart.x_range.start, f64::max);
            let span = chart.x_range.end - chart.x_range.start;
            let middle = top(index) - 0.5;
            context.draw_series(std::iter::once(Text::new(
                bar.note.clone(),
                (end + span * 0.01, middle),
                text_style(15).pos(Pos::new(HPos::Left, VPos::Center)),
            )))?;
            let (left, y) = context.backend_coord(&(chart.x_range.start, middle));
            root.draw(&Text::new(
                bar.label.clone(),
                (left - 8, y),
                text_style(15).pos(Pos::new(HPos::Right, VPos::Center)),
            ))?;
        }
        if let Some(at) = chart.reference {
            context.draw_series(DashedLineSeries::new(
                [(at, 0.0), (at, rows as f64)],
                6,
                4,
                GREY.stroke_width(2),
            ))?;
        }
        Ok(())
    })
}

fn users_format(value: &f64) -> String {
    format!("{:.0}", value.abs())
}

fn pyramid(report: &RunReport) -> Result<String, Error> {
    let mut layers: Vec<_> = report.layers.iter().collect();
    layers.sort_by_key(|layer| std::cmp::Reverse(layer.index));
    let widest = layers.iter().map(|layer| layer.total()).max().unwrap_or(0);
    let caption = "The layer pyramid: users per lifecycle layer, deepest on top, bar width \
                   proportional to users; the light ends are users who reached the layer and \
                   then churned.";
    let rows: Vec<Vec<String>> = std::iter::once(
        ["layer", "active", "churned", "total", "share of users"]
            .map(String::from)
            .to_vec(),
    )
    .chain(layers.iter().map(|layer| {
        vec![
            format!("{} {}", layer.index, layer.name),
            layer.active.to_string(),
            layer.churned.to_string(),
            layer.total().to_string(),
            percent(ratio(layer.total(), report.users)),
        ]
    }))
    .collect();
    if widest == 0 {
        return Ok(figure(
            "chart-pyramid",
            &empty_svg("no users in this run")?,
            &table(&rows),
            caption,
        ));
    }
    let half = widest as f64 / 2.0;
    let bars: Vec<Bar> = layers
        .iter()
        .map(|layer| {
            let active = layer.active as f64 / 2.0;
            let total = layer.total() as f64 / 2.0;
            Bar {
                label: layer.name.clone(),
                spans: vec![
                    (-total, -active, LIGHT),
                    (-active, active, DARK),
                    (active, total, LIGHT),
                ],
                note: format!(
                    "{} ({})",
                    layer.total(),
                    percent(ratio(layer.total(), report.users))
                ),
            }
        })
        .collect();
    let svg = bar_chart(&BarChart {
        bars: &bars,
        x_range: -half * 1.05..half * 1.45,
        x_desc: "users (bar centred on 0)",
        x_format: &|value| format!("{:.0}", 2.0 * value.abs()),
        reference: None,
    })?;
    Ok(figure_with_legend(
        "chart-pyramid",
        &[("active", DARK, Mark::Fill), ("churned", LIGHT, Mark::Fill)],
        &svg,
        &table(&rows),
        caption,
    ))
}

fn funnel_figure(report: &RunReport) -> Result<String, Error> {
    let steps = funnel(&report.layers);
    let caption = "The funnel: the share of all users who reached each layer or a deeper one \
                   in the model's order (a churned user counts at the layer they reached), and \
                   the step conversion from the layer above.";
    let rows: Vec<Vec<String>> = std::iter::once(
        ["layer", "reached", "share of users", "step conversion"]
            .map(String::from)
            .to_vec(),
    )
    .chain(steps.iter().map(|step| {
        vec![
            step.name.clone(),
            step.reached.to_string(),
            percent(Some(step.share)),
            percent(step.step_conversion),
        ]
    }))
    .collect();
    if steps.is_empty() || report.users == 0 {
        return Ok(figure(
            "chart-funnel",
            &empty_svg("no users in this run")?,
            &table(&rows),
            caption,
        ));
    }
    let bars: Vec<Bar> = steps
        .iter()
        .map(|step| Bar {
            label: step.name.clone(),
            spans: vec![(0.0, 100.0 * step.share, DARK)],
            note: match step.step_conversion {
                Some(rate) => format!(
                    "{:.1}% of users, {:.1}% of the step above",
                    100.0 * step.share,
                    100.0 * rate
                ),
                None => format!("{:.1}% of users", 100.0 * step.share),
            },
        })
        .collect();
    let svg = bar_chart(&BarChart {
        bars: &bars,
        x_range: 0.0..160.0,
        x_desc: "share of users who reached the layer or a deeper one (%)",
        x_format: &|value| {
            if *value <= 100.0 {
                format!("{value:.0}")
            } else {
                String::new()
            }
        },
        reference: None,
    })?;
    Ok(figure("chart-funnel", &svg, &table(&rows), caption))
}

/// White to dark blue.
fn heat(share: f64) -> RGBColor {
    let share = share.clamp(0.0, 1.0);
    let mix =
        |low: u8, high: u8| (f64::from(low) + (f64::from(high) - f64::from(low)) * share) as u8;
    RGBColor(mix(0xf4, 0x08), mix(0xf8, 0x30), mix(0xfc, 0x6b))
}

fn cohorts(matrix: &CohortMatrix) -> Result<String, Error> {
    let caption = format!(
        "Cohort retention: buyers grouped by the month of their first purchase (rows); each cell \
         is the share of the cohort that bought in the month that many months later (month 0 \
         is 100% by definition). Colour is scaled to the highest share after month 0.{}{}",
        if matrix.partial_last_month {
            " The last month is cut short by the as-of time."
        } else {
            ""
        },
        if matrix.rows.len() > COHORT_LIMIT {
            " The chart shows the newest cohorts; the table has them all."
        } else {
            ""
        }
    );
    // Only the offsets some cohort has lived long enough to show: a column
    // empty in every row says nothing.
    let observed = matrix
        .rows
        .iter()
        .map(|row| row.buyers.len())
        .max()
        .unwrap_or(0);
    let offsets: Vec<usize> = [1usize, 2, 3, 6, 12]
        .into_iter()
        .filter(|offset| *offset < observed)
        .collect();
    let header: Vec<String> = ["first purchase", "buyers"]
        .into_iter()
        .map(String::from)
        .chain(offsets.iter().map(|offset| format!("month +{offset}")))
        .collect();
    let rows: Vec<Vec<String>> = std::iter::once(header)
        .chain(matrix.rows.iter().map(|row| {
            [row.month.clone(), row.size.to_string()]
                .into_iter()
                .chain(offsets.iter().map(|offset| match row.buyers.get(*offset) {
                    Some(buyers) => percent(ratio(*buyers, row.size)),
                    None => String::new(),
                }))
                .collect()
        }))
        .collect();
    let shown = &matrix.rows[matrix.rows.len().saturating_sub(COHORT_LIMIT)..];
    if shown.iter().all(|row| row.size == 0) {
        return Ok(figure(
            "chart-cohorts",
            &empty_svg("no purchases before the as-of time")?,
            &table(&rows),
            &caption,
        ));
    }
    let columns = shown
        .iter()
        .map(|row| row.buyers.len())
        .max()
        .unwrap_or(1)
        .min(COHORT_LIMIT);
    let scale = shown
        .iter()
        .flat_map(|row| {
            row.buyers
                .iter()
                .skip(1)
                .filter_map(|buyers| ratio(*buyers, row.size))
        })
        .fold(0.0f64, f64::max)
        .max(0.01);
    let cell_height = 26;
    let height = 90 + cell_height * shown.len() as u32;
    let svg = svg(height, |root| {
        let mut context = ChartBuilder::on(root)
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..columns as f64, 0f64..shown.len() as f64)?;
        context
            .configure_mesh()
            .disable_mesh()
            .x_labels(0)
            .y_labels(0)
            .x_label_formatter(&|_| String::new())
            .y_label_formatter(&|_| String::new())
            .x_desc("months since the first purchase")
            .axis_desc_style(text_style(16))
            .draw()?;
        let rows = shown.len();
        for (index, row) in shown.iter().enumerate() {
            let bottom = (rows - 1 - index) as f64;
            let (left, y) = context.backend_coord(&(0.0, bottom + 0.5));
            root.draw(&Text::new(
                row.month.clone(),
                (left - 6, y),
                text_style(15).pos(Pos::new(HPos::Right, VPos::Center)),
            ))?;
            if row.size == 0 {
                continue;
            }
            for (offset, buyers) in row.buyers.iter().take(columns).enumerate() {
                let share = *buyers as f64 / row.size as f64;
                let strength = if offset == 0 { 1.0 } else { share / scale };
                let x = offset as f64;
                let mut cell = Rectangle::new(
                    [(x, bottom + 1.0), (x + 1.0, bottom)],
                    heat(strength).filled(),
                );
                cell.set_margin(1, 1, 1, 1);
                context.draw_series(std::iter::once(cell))?;
                let ink = if strength > 0.55 { WHITE } else { TEXT };
                context.draw_series(std::iter::once(Text::new(
                    format!("{:.0}", 100.0 * share),
                    (x + 0.5, bottom + 0.5),
                    (FONT, 13)
                        .into_font()
                        .color(&ink)
                        .pos(Pos::new(HPos::Center, VPos::Center)),
                )))?;
            }
        }
        for offset in 0..columns {
            let (x, bottom) = context.backend_coord(&(offset as f64 + 0.5, 0.0));
            root.draw(&Text::new(
                offset.to_string(),
                (x, bottom + 12),
                text_style(15).pos(Pos::new(HPos::Center, VPos::Center)),
            ))?;
        }
        Ok(())
    })?;
    Ok(figure("chart-cohorts", &svg, &table(&rows), &caption))
}

fn distribution(
    id: &str,
    caption: &str,
    counts: &[crate::data::Count],
    users: u64,
) -> Result<String, Error> {
    let rows: Vec<Vec<String>> = std::iter::once(
        ["name", "users", "share of users"]
            .map(String::from)
            .to_vec(),
    )
    .chain(counts.iter().map(|count| {
        vec![
            count.name.clone(),
            count.count.to_string(),
            percent(ratio(count.count, users)),
        ]
    }))
    .collect();
    let widest = counts.iter().map(|count| count.count).max().unwrap_or(0);
    if widest == 0 {
        return Ok(figure(
            id,
            &empty_svg("no users in this run")?,
            &table(&rows),
            caption,
        ));
    }
    let bars: Vec<Bar> = counts
        .iter()
        .map(|count| Bar {
            label: count.name.clone(),
            spans: vec![(0.0, count.count as f64, DARK)],
            note: format!("{} ({})", count.count, percent(ratio(count.count, users))),
        })
        .collect();
    let svg = bar_chart(&BarChart {
        bars: &bars,
        x_range: 0.0..widest as f64 * 1.3,
        x_desc: "users",
        x_format: &users_format,
        reference: None,
    })?;
    Ok(figure(id, &svg, &table(&rows), caption))
}

fn transitions(report: &RunReport) -> Result<String, Error> {
    let mut moves: Vec<_> = report.transitions.iter().collect();
    moves.sort_by(|left, right| {
        right
            .count
            .cmp(&left.count)
            .then_with(|| (&left.from, &left.to).cmp(&(&right.from, &right.to)))
    });
    let caption = format!(
        "Layer transitions since the job's last delivered state, most common first (at most \
         {TRANSITION_LIMIT} in the chart): \"(none)\" is a user new to the job, \"(erased)\" one \
         erased. On a first run every user comes from \"(none)\"."
    );
    let rows: Vec<Vec<String>> =
        std::iter::once(["from", "to", "users"].map(String::from).to_vec())
            .chain(moves.iter().map(|change| {
                vec![
                    change.from.clone(),
                    change.to.clone(),
                    change.count.to_string(),
                ]
            }))
            .collect();
    let widest = moves.first().map_or(0, |change| change.count);
    if widest == 0 {
        return Ok(figure(
            "chart-transitions",
            &empty_svg("no user changed layer since the last run")?,
            &table(&rows),
            &caption,
        ));
    }
    let bars: Vec<Bar> = moves
        .iter()
        .take(TRANSITION_LIMIT)
        .map(|change| Bar {
            label: format!("{} -> {}", change.from, change.to),
            spans: vec![(0.0, change.count as f64, DARK)],
            note: change.count.to_string(),
        })
        .collect();
    let svg = bar_chart(&BarChart {
        bars: &bars,
        x_range: 0.0..widest as f64 * 1.15,
        x_desc: "users",
        x_format: &users_format,
        reference: None,
    })?;
    Ok(figure("chart-transitions", &svg, &table(&rows), &caption))
}

type Context<'a, 'b> =
    ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

fn line_chart(
    x_range: std::ops::Range<f64>,
    y_range: std::ops::Range<f64>,
    x_desc: &str,
    y_desc: &str,
    x_format: &dyn Fn(&f64) -> String,
    draw: impl FnOnce(&mut Context<'_, '_>) -> Result<(), Error>,
) -> Result<String, Error> {
    svg(400, |root| {
        let mut context = ChartBuilder::on(root)
            .margin(14)
            .margin_right(24)
            .x_label_area_size(44)
            .y_label_area_size(64)
            .build_cartesian_2d(x_range, y_range)?;
        context
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc(y_desc)
            .x_label_formatter(x_format)
            .label_style(text_style(15))
            .axis_desc_style(text_style(16))
            .light_line_style(WHITE)
            .bold_line_style(RGBColor(0xe4, 0xe4, 0xe4))
            .draw()?;
        draw(&mut context)?;
        Ok(())
    })
}

fn draw_line(
    context: &mut Context<'_, '_>,
    points: &[(f64, f64)],
    color: RGBColor,
    markers: bool,
) -> Result<(), Error> {
    context.draw_series(LineSeries::new(
        points.iter().copied(),
        color.stroke_width(2),
    ))?;
    if markers {
        context.draw_series(
            points
                .iter()
                .map(|point| Circle::new(*point, 4, color.filled())),
        )?;
    }
    Ok(())
}

fn bg_nbd(report: &RunReport) -> Result<String, Error> {
    let models = &report.models;
    let parameters = match (&models.bg_nbd, &models.gamma_gamma) {
        (Some(bg), gamma) => format!(
            "Fitted on all buyers: r {:.3}, alpha {:.3}, a {:.3}, b {:.3} (log-likelihood {:.1}){}.",
            bg.r,
            bg.alpha,
            bg.a,
            bg.b,
            bg.log_likelihood,
            gamma.as_ref().map_or(String::new(), |gamma| format!(
                "; Gamma-Gamma p {:.3}, q {:.3}, gamma {:.3}",
                gamma.p, gamma.q, gamma.gamma
            ))
        ),
        (None, _) => "BG/NBD was not fitted on this run.".to_owned(),
    };
    let Some(holdout) = models
        .bg_nbd_holdout
        .as_ref()
        .filter(|holdout| !holdout.buckets.is_empty())
    else {
        let caption = format!("BG/NBD fit check: no calibration/holdout comparison. {parameters}");
        return Ok(figure(
            "chart-bgnbd",
            &empty_svg("no BG/NBD calibration fit on this data")?,
            "",
            &caption,
        ));
    };
    let caption = format!(
        "BG/NBD fit check, calibration/holdout: the model fitted on purchases up to {} days \
         before the as-of time predicts each buyer's purchases in those last {} days; mean \
         predicted and actual purchases per buyer, by repeat purchases in the calibration period. \
         {parameters}",
        holdout.holdout_days, holdout.holdout_days
    );
    let rows: Vec<Vec<String>> = std::iter::once(
        ["repeat purchases before", "buyers", "predicted", "actual"]
            .map(String::from)
            .to_vec(),
    )
    .chain(holdout.buckets.iter().map(|bucket| {
        vec![
            bucket.label.clone(),
            bucket.customers.to_string(),
            format!("{:.3}", bucket.predicted),
            format!("{:.3}", bucket.actual),
        ]
    }))
    .collect();
    let predicted: Vec<(f64, f64)> = holdout
        .buckets
        .iter()
        .enumerate()
        .map(|(index, bucket)| (index as f64, bucket.predicted))
        .collect();
    let actual: Vec<(f64, f64)> = holdout
        .buckets
        .iter()
        .enumerate()
        .map(|(index, bucket)| (index as f64, bucket.actual))
        .collect();
    let top = predicted
        .iter()
        .chain(&actual)
        .map(|point| point.1)
        .fold(0.0f64, f64::max)
        .max(0.01);
    let labels: Vec<String> = holdout
        .buckets
        .iter()
        .map(|bucket| bucket.label.clone())
        .collect();
    let x_format = |value: &f64| {
        let index = value.round();
        if (value - index).abs() < 1e-6 && index >= 0.0 {
            labels.get(index as usize).cloned().unwrap_or_default()
        } else {
            String::new()
        }
    };
    let svg = line_chart(
        -0.3..(labels.len() as f64 - 0.7),
        0.0..top * 1.25,
        "repeat purchases in the calibration period",
        &format!("mean purchases in the last {} days", holdout.holdout_days),
        &x_format,
        |context| {
            draw_line(context, &actual, DARK, true)?;
            draw_line(context, &predicted, ACCENT, true)
        },
    )?;
    Ok(figure_with_legend(
        "chart-bgnbd",
        &[
            ("actual", DARK, Mark::Line),
            ("BG/NBD predicted", ACCENT, Mark::Line),
        ],
        &svg,
        &table(&rows),
        &caption,
    ))
}

fn propensity(report: &RunReport) -> Result<String, Error> {
    let check = &report.models.propensity;
    // Runs that chose the model on the holdout list every candidate; older
    // reports have the three fixed rankings only.
    let scores: Vec<(String, Option<f64>, bool)> = if check.candidates.is_empty() {
        vec![
            ("propensity model".to_owned(), check.model_auc, true),
            ("recency alone".to_owned(), check.recency_auc, false),
            (
                "BG/NBD expected purchases".to_owned(),
                check.bg_nbd_auc,
                false,
            ),
        ]
    } else {
        check
            .candidates
            .iter()
            .map(|candidate| {
                let kind = if candidate.baseline {
                    "baseline"
                } else {
                    "model"
                };
                let served = check.served.as_deref() == Some(candidate.name.as_str());
                let label = format!(
                    "{} ({kind}{})",
                    candidate.name,
                    if served { ", served" } else { "" }
                );
                (label, candidate.auc, served)
            })
            .collect()
    };
    let mut caption = format!(
        "Propensity check: holdout ROC AUC of each ranking for buying in the next {} days \
         (features as of that many days before the as-of time); 0.5 is chance, 1 a perfect \
         ranking.",
        check.window_days
    );
    if let (Some(served), Some(reason)) = (&check.served, &check.reason) {
        let _ = write!(caption, " Served: {served} ({reason}).");
    }
    let mut rows: Vec<Vec<String>> = vec![
        ["ranking", "holdout AUC", "note"]
            .map(String::from)
            .to_vec(),
    ];
    let notes = check
        .candidates
        .iter()
        .map(|candidate| candidate.note.clone().unwrap_or_default())
        .chain(std::iter::repeat(String::new()));
    for ((name, auc, _), note) in scores.iter().zip(notes) {
        rows.push(vec![name.clone(), number(*auc, 3), note]);
    }
    let mut tables = table(&rows);
    if let Some(calibration) = &check.calibration {
        let _ = write!(
            caption,
            " Calibration ({}, out of fold on {} holdout users): Brier {} before, {:.4} after, \
             against {:.4} for the base rate {:.1}% alone; the reliability table compares the \
             mean calibrated prediction of each tenth of the holdout with the share that bought.",
            calibration.method,
            calibration.holdout_users,
            number(calibration.brier_before, 4),
            calibration.brier_after,
            calibration.brier_base_rate,
            100.0 * calibration.base_rate
        );
        let header = [
            "reliability bin",
            "users",
            "mean predicted",
            "share that bought",
        ];
        let mut reliability = vec![header.map(String::from).to_vec()];
        for (index, bin) in calibration.reliability.iter().enumerate() {
            reliability.push(vec![
                (index + 1).to_string(),
                bin.users.to_string(),
                format!("{:.3}", bin.predicted),
                format!("{:.3}", bin.observed),
            ]);
        }
        tables.push('\n');
        tables.push_str(&table(&reliability));
    }
    if scores.iter().all(|(_, auc, _)| auc.is_none()) {
        return Ok(figure(
            "chart-propensity",
            &empty_svg("the propensity model was not fitted on this data")?,
            &tables,
            &caption,
        ));
    }
    let bars: Vec<Bar> = scores
        .iter()
        .map(|(name, auc, highlight)| Bar {
            label: name.clone(),
            spans: auc.map_or_else(Vec::new, |auc| {
                vec![(0.0, auc, if *highlight { DARK } else { LIGHT })]
            }),
            note: number(*auc, 3),
        })
        .collect();
    let svg = bar_chart(&BarChart {
        bars: &bars,
        x_range: 0.0..1.35,
        x_desc: "holdout ROC AUC",
        x_format: &|value| {
            if *value <= 1.0 {
                format!("{value:.1}")
            } else {
                String::new()
            }
        },
        reference: Some(0.5),
    })?;
    Ok(figure_with_legend(
        "chart-propensity",
        &[
            ("chosen", DARK, Mark::Fill),
            ("other candidates", LIGHT, Mark::Fill),
            ("chance (0.5)", GREY, Mark::Dashed),
        ],
        &svg,
        &tables,
        &caption,
    ))
}

/// The offer policies: each candidate's doubly robust value per issue with
/// its interval (bars and whiskers), the served one dark.
fn offers(report: &RunReport) -> Result<String, Error> {
    let header = [
        "policy",
        "doubly robust, EUR per issue",
        "interval",
        "inverse propensity",
        "interval",
        "offered",
        "served",
    ]
    .map(String::from)
    .to_vec();
    let Some(check) = &report.models.offers else {
        return Ok(figure(
            "chart-offers",
            &empty_svg("no offer policy on this data (no finished randomised offers)")?,
            &table(&[header]),
            "Offer policies: none was learned; the notes say why.",
        ));
    };
    let span = |value: &Interval| format!("[{:+.3}, {:+.3}]", value.lower, value.upper);
    let rows: Vec<Vec<String>> = std::iter::once(header)
        .chain(check.candidates.iter().map(|candidate| {
            vec![
                candidate.policy.clone(),
                format!("{:+.3}", candidate.dr.mean),
                span(&candidate.dr),
                format!("{:+.3}", candidate.ips.mean),
                span(&candidate.ips),
                format!("{:.1}%", 100.0 * candidate.offered),
                if candidate.served { "yes" } else { "" }.to_owned(),
            ]
        }))
        .collect();
    let mut caption = format!(
        "Offer policies, estimated off-policy on {} held-out randomised offer issues (of {} \
         finished; cross-fitted by user, held back {:.1}%): incremental profit per issue against \
         sending nothing, doubly robust (bars, with {:.0}% intervals) and inverse propensity (the \
         model-free check). {}.",
        check.issues_used,
        check.issues,
        100.0 * check.control_share,
        100.0 * check.confidence,
        check.reason
    );
    if let Some(fairness) = check.fairness.as_ref().filter(|fairness| fairness.enabled) {
        let _ = write!(
            caption,
            " Fairness at least cost: estimated value per user {:+.4} without the rule, {:+.4} \
             with it; {} users changed, {} offers served only because the rule demands them.",
            fairness.value_without,
            fairness.value_with,
            fairness.users_changed,
            fairness.forced_offers
        );
    }
    let count = check.candidates.len().max(1);
    let (low, high) = check
        .candidates
        .iter()
        .fold((0.0f64, 0.0f64), |(low, high), candidate| {
            (low.min(candidate.dr.lower), high.max(candidate.dr.upper))
        });
    let pad = (high - low).max(1e-3) * 0.1;
    // Room on the right for the value written after each whisker.
    let x_range = (low - pad)..(high + 3.0 * pad);
    let labels_width = label_width(
        check
            .candidates
            .iter()
            .map(|candidate| candidate.policy.len() + if candidate.served { 9 } else { 0 }),
    );
    let svg = svg(74 + 44 * count as u32, |root| {
        let mut context = ChartBuilder::on(root)
            .margin(12)
            .margin_right(24)
            .x_label_area_size(40)
            .y_label_area_size(labels_width)
            .build_cartesian_2d(x_range.clone(), 0f64..count as f64)?;
        context
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(0)
            .y_label_formatter(&|_| String::new())
            .x_labels(8)
            .x_label_formatter(&|value| format!("{value:+.2}"))
            .x_desc("incremental profit per issue against no offer (EUR)")
            .label_style(text_style(15))
            .axis_desc_style(text_style(16))
            .light_line_style(WHITE)
            .bold_line_style(RGBColor(0xe4, 0xe4, 0xe4))
            .draw()?;
        context.draw_series(DashedLineSeries::new(
            [(0.0, 0.0), (0.0, count as f64)],
            6,
            4,
            GREY.stroke_width(2),
        ))?;
        for (index, candidate) in check.candidates.iter().enumerate() {
            let top = (count - index) as f64;
            let middle = top - 0.5;
            let color = if candidate.served { DARK } else { LIGHT };
            let dr = &candidate.dr;
            context.draw_series(std::iter::once(Rectangle::new(
                [
                    (dr.mean.min(0.0), top - 0.22),
                    (dr.mean.max(0.0), top - 0.78),
                ],
                color.filled(),
            )))?;
            context.draw_series(std::iter::once(PathElement::new(
                vec![(dr.lower, middle), (dr.upper, middle)],
                TEXT.stroke_width(2),
            )))?;
            for end in [dr.lower, dr.upper] {
                context.draw_series(std::iter::once(PathElement::new(
                    vec![(end, middle - 0.14), (end, middle + 0.14)],
                    TEXT.stroke_width(2),
                )))?;
            }
            context.draw_series(std::iter::once(Text::new(
                format!("{:+.3}", dr.mean),
                (dr.upper.max(dr.mean.max(0.0)) + pad * 0.3, middle),
                text_style(15).pos(Pos::new(HPos::Left, VPos::Center)),
            )))?;
            let (left, y) = context.backend_coord(&(x_range.start, middle));
            let label = if candidate.served {
                format!("{} (served)", candidate.policy)
            } else {
                candidate.policy.clone()
            };
            root.draw(&Text::new(
                label,
                (left - 8, y),
                text_style(15).pos(Pos::new(HPos::Right, VPos::Center)),
            ))?;
        }
        Ok(())
    })?;
    Ok(figure_with_legend(
        "chart-offers",
        &[
            ("served", DARK, Mark::Fill),
            ("not served", LIGHT, Mark::Fill),
            ("interval", TEXT, Mark::Line),
        ],
        &svg,
        &table(&rows),
        &caption,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{Count, LayerCount, ModelChecks};

    fn tiny() -> RunReport {
        RunReport {
            format: crate::FORMAT,
            preset: "retail".into(),
            model_version: "retail-1".into(),
            as_of: "2025-01-01T00:00:00.000Z".into(),
            users: 10,
            events: 100,
            bad_rows: 0,
            layers: vec![
                LayerCount {
                    index: 0,
                    name: "potential".into(),
                    active: 6,
                    churned: 0,
                },
                LayerCount {
                    index: 1,
                    name: "new <&>".into(),
                    active: 3,
                    churned: 1,
                },
            ],
            tiers: vec![Count {
                name: "high".into(),
                count: 4,
            }],
            quadrants: Vec::new(),
            transitions: Vec::new(),
            cohorts: CohortMatrix::default(),
            models: ModelChecks::default(),
            value: crate::data::ValueReport::default(),
        }
    }

    #[test]
    fn every_chart_has_a_figure_with_an_svg_even_without_data() {
        let page = render_html(&tiny()).unwrap();
        for id in CHART_IDS {
            let start = page
                .find(&format!("<figure id=\"{id}\">"))
                .unwrap_or_else(|| panic!("{id} missing"));
            let end = start + page[start..].find("</figure>").unwrap();
            // The quadrants are a grid of the page, not a drawing.
            let drawn = if id == "chart-quadrants" {
                "class=\"quadrant-grid\""
            } else {
                "<svg"
            };
            assert!(page[start..end].contains(drawn), "{id} has no {drawn}");
        }
        // Names are escaped in the tables.
        assert!(page.contains("new &lt;&amp;&gt;"));
        assert!(!page.contains("<script"));
    }

    /// The figure of a propensity section between `<figure id=...>` and its end.
    fn propensity_figure(page: &str) -> &str {
        let start = page.find("<figure id=\"chart-propensity\">").unwrap();
        &page[start..start + page[start..].find("</figure>").unwrap()]
    }

    #[test]
    fn propensity_lists_every_candidate_the_served_one_and_its_calibration() {
        use crate::data::{PropensityCalibration, PropensityCandidate, PropensityCheck};
        // An older report has none of the choice's fields: it still reads,
        // and its page shows the three fixed rankings.
        let old: PropensityCheck = serde_json::from_str(
            r#"{"window_days":30,"model_auc":0.8,"recency_auc":0.7,"bg_nbd_auc":0.75}"#,
        )
        .unwrap();
        assert!(old.candidates.is_empty() && old.served.is_none() && old.calibration.is_none());
        let mut report = tiny();
        report.models.propensity = old;
        let page = render_html(&report).unwrap();
        let figure = propensity_figure(&page);
        assert!(figure.contains("<td>recency alone</td><td>0.700</td>"));
        assert!(!figure.contains("reliability bin"));

        let candidate = |name: &str, baseline: bool, auc: f64| PropensityCandidate {
            name: name.into(),
            baseline,
            auc: Some(auc),
            note: None,
        };
        report.models.propensity = PropensityCheck {
            window_days: 30,
            model_auc: Some(0.86),
            recency_auc: Some(0.80),
            bg_nbd_auc: Some(0.81),
            candidates: vec![
                candidate("logistic", false, 0.85),
                candidate("gbt", false, 0.86),
                candidate("recency", true, 0.80),
                candidate("bg_nbd_expected", true, 0.81),
            ],
            served: Some("gbt".into()),
            reason: Some("gbt beats the best baseline".into()),
            calibration: Some(PropensityCalibration {
                method: "isotonic regression".into(),
                holdout_users: 4000,
                base_rate: 0.0625,
                brier_base_rate: 0.0586,
                brier_before: Some(0.0510),
                brier_after: 0.0501,
                reliability: vec![
                    crate::data::ReliabilityBin {
                        users: 2000,
                        predicted: 0.01,
                        observed: 0.012,
                    },
                    crate::data::ReliabilityBin {
                        users: 2000,
                        predicted: 0.115,
                        observed: 0.113,
                    },
                ],
            }),
        };
        let page = render_html(&report).unwrap();
        let figure = propensity_figure(&page);
        assert!(figure.contains("<td>gbt (model, served)</td><td>0.860</td>"));
        assert!(figure.contains("<td>bg_nbd_expected (baseline)</td><td>0.810</td>"));
        assert!(figure.contains("Served: gbt (gbt beats the best baseline)."));
        assert!(figure.contains("Brier 0.0510 before, 0.0501 after, against 0.0586"));
        assert!(figure.contains("<td>2</td><td>2000</td><td>0.115</td><td>0.113</td>"));
        // Every candidate has its bar (plus the background).
        assert!(figure.matches("<rect").count() >= 5);
    }
    #[test]
    fn offers_figure_shows_every_candidate_the_served_one_and_the_fairness_cost() {
        use crate::data::{FairnessCost, Interval, OfferPolicyCheck, PolicyEstimate};
        let interval = |mean: f64| Interval {
            mean,
            lower: mean - 0.05,
            upper: mean + 0.05,
        };
        let candidate = |policy: &str, mean: f64, served: bool| PolicyEstimate {
            policy: policy.into(),
            served,
            dr: interval(mean),
            ips: interval(mean + 0.01),
            offered: 0.5,
        };
        let mut report = tiny();
        report.models.offers = Some(OfferPolicyCheck {
            issues: 1000,
            issues_used: 900,
            control_share: 0.2,
            control_share_estimated: true,
            confidence: 0.95,
            candidates: vec![
                candidate("no offer", 0.0, false),
                candidate("best single benefit", -0.02, false),
                candidate("best benefit per cell <&>", 0.04, true),
                candidate("learned", 0.03, false),
            ],
            served: "best benefit per cell <&>".into(),
            reason: "best benefit per cell <&> served: it has the highest estimate".into(),
            learned_gain: Some(interval(-0.01)),
            fairness: Some(FairnessCost {
                enabled: true,
                value_without: 0.0712,
                value_with: 0.0701,
                users_changed: 12,
                forced_offers: 3,
                repairs: 2,
            }),
        });
        let page = render_html(&report).unwrap();
        let start = page.find("<figure id=\"chart-offers\">").unwrap();
        let figure = &page[start..start + page[start..].find("</figure>").unwrap()];
        assert!(figure.contains(
            "<td>best benefit per cell &lt;&amp;&gt;</td><td>+0.040</td><td>[-0.010, +0.090]</td>\
             <td>+0.050</td><td>[+0.000, +0.100]</td><td>50.0%</td><td>yes</td>"
        ));
        assert!(figure.contains("<td>best single benefit</td><td>-0.020</td>"));
        assert!(figure.contains("on 900 held-out randomised offer issues (of 1000"));
        assert!(
            figure
                .contains("+0.0712 without the rule, +0.0701 with it; 12 users changed, 3 offers")
        );
        // A bar per candidate plus the background; a whisker and two ticks each.
        assert!(figure.matches("<rect").count() >= 5);
        assert!(figure.matches("<polyline").count() >= 12);
    }

    /// The markup of `<figure id="{id}">`.
    fn figure_of<'a>(page: &'a str, id: &str) -> &'a str {
        let start = page.find(&format!("<figure id=\"{id}\">")).unwrap();
        &page[start..start + page[start..].find("</figure>").unwrap()]
    }

    #[test]
    fn the_headline_shows_the_run_numbers_and_names_its_source() {
        use crate::data::{BenefitMix, LayerValue, ValueReport};
        let mut report = tiny();
        report.models.users_with_benefits = 3;
        report.value = ValueReport {
            currency: "EUR".into(),
            buyers: 4,
            revenue: 12345.678,
            valued_users: 4,
            predicted_value: 10.0,
            horizon_days: 365,
            layers: vec![LayerValue {
                index: 1,
                name: "new <&>".into(),
                valued_users: 4,
                predicted_value: 10.0,
            }],
            benefits: vec![BenefitMix {
                benefit_id: "coupon-5".into(),
                kind: "coupon".into(),
                users: 3,
                expected_incremental_profit: 1.5,
            }],
        };
        let page = render_page(&report, Some("run-7.json")).unwrap();
        assert!(page.contains("<code>run-7.json</code>"));
        assert!(!page.contains("report.json"));
        for (key, value, shown) in [
            ("users", "10", "10"),
            ("buyers", "4", "4"),
            ("revenue", "12345.68", "12,345.68 EUR"),
            ("mean-lifetime-value", "2.50", "2.50 EUR"),
            ("users-with-offers", "3", "3"),
        ] {
            let stat = format!(
                "data-key=\"{key}\" data-value=\"{value}\"><span class=\"value\">{shown}</span>"
            );
            assert!(page.contains(&stat), "{stat}");
        }
        let value = figure_of(&page, "chart-value");
        assert!(
            value.contains("<td>1 new &lt;&amp;&gt;</td><td>4</td><td>2.50</td><td>10.00</td>")
        );
        let benefits = figure_of(&page, "chart-benefits");
        assert!(
            benefits
                .contains("<td>coupon-5</td><td>coupon</td><td>3</td><td>1.50</td><td>0.50</td>")
        );
        // Without a source file the page says it came from the run.
        assert!(
            render_html(&report)
                .unwrap()
                .contains("<code>strata recompute</code>")
        );
    }

    #[test]
    fn quadrants_are_a_two_by_two_grid_loyalty_down_satisfaction_across() {
        let mut report = tiny();
        report.quadrants = [
            "ANGEL",
            "DANGER",
            "FREELOADER",
            "HOSTAGE",
            "none (no satisfaction signal)",
        ]
        .iter()
        .zip([4, 1, 2, 0, 3])
        .map(|(name, count)| Count {
            name: (*name).into(),
            count,
        })
        .collect();
        let page = render_html(&report).unwrap();
        let grid = figure_of(&page, "chart-quadrants");
        let order: Vec<usize> = ["\"ANGEL\"", "\"FREELOADER\"", "\"HOSTAGE\"", "\"DANGER\""]
            .iter()
            .map(|name| grid.find(&format!("data-quadrant={name}")).unwrap())
            .collect();
        assert!(order.is_sorted(), "cells in reading order: {order:?}");
        assert!(grid.contains("data-quadrant=\"HOSTAGE\" data-users=\"0\""));
        assert_eq!(grid.matches("class=\"meaning\"").count(), 4);
        assert!(grid.contains("<td>none (no satisfaction signal)</td><td>3</td>"));
    }

    #[test]
    fn predictions_show_each_candidate_the_served_one_and_what_is_off() {
        let mut report = tiny();
        assert!(
            !render_page(&report, None)
                .unwrap()
                .contains("id=\"predictions\"")
        );
        report.models.predictions = Some(crate::PredictionsCheck {
            churn: Some(crate::ChurnCheck {
                horizon_days: 90,
                holdout_users: 700,
                base_rate: 0.75,
                candidates: vec![
                    crate::ChurnCandidate {
                        name: "bg_nbd".into(),
                        baseline: false,
                        brier: 0.1592,
                        reliability: vec![crate::ReliabilityBin {
                            users: 70,
                            predicted: 0.39,
                            observed: 0.38,
                        }],
                    },
                    crate::ChurnCandidate {
                        name: "recency_buckets".into(),
                        baseline: true,
                        brier: 0.1756,
                        reliability: Vec::new(),
                    },
                ],
                served: "bg_nbd".into(),
                reason: "lowest Brier score".into(),
            }),
            next_order: Some(crate::NextOrderCheck {
                holdout_days: 90,
                holdout_users: 149,
                model_error_days: 30.0,
                baseline_error_days: 21.0,
                served: "last_order_plus_median_gap".into(),
                reason: "the naive rule is served".into(),
            }),
            switched_off: vec![crate::SwitchedOff {
                prediction: "churn".into(),
                reason: "12 buyers".into(),
            }],
        });
        let page = render_page(&report, None).unwrap();
        let start = page.find("id=\"predictions\"").unwrap();
        let section = &page[start..page[start..].find("</section>").unwrap() + start];
        for needle in [
            "recency_buckets (baseline)</td><td>0.1756",
            "bg_nbd</td><td>0.1592</td><td>yes",
            "<td>0.390</td><td>0.380</td>",
            "strata 30.0, last order + median gap 21.0. last_order_plus_median_gap served",
            "churn switched off: 12 buyers",
        ] {
            assert!(section.contains(needle), "{needle} not in {section}");
        }
    }

    #[test]
    fn legends_sit_outside_the_charts_and_no_cohort_column_is_empty() {
        let mut report = tiny();
        report.cohorts = CohortMatrix {
            rows: vec![
                crate::data::CohortRow {
                    month: "2024-11".into(),
                    size: 4,
                    buyers: vec![4, 2],
                },
                crate::data::CohortRow {
                    month: "2024-12".into(),
                    size: 2,
                    buyers: vec![2],
                },
            ],
            partial_last_month: false,
        };
        let page = render_html(&report).unwrap();
        let pyramid = figure_of(&page, "chart-pyramid");
        let legend = pyramid.find("class=\"legend\"").expect("a legend");
        assert!(
            legend < pyramid.find("<svg").unwrap(),
            "the legend comes before the chart"
        );
        // The chart itself draws no legend box (plotters' would sit on the bars).
        assert!(!pyramid[pyramid.find("<svg").unwrap()..].contains(">\nactive\n</text>"));
        let cohorts = figure_of(&page, "chart-cohorts");
        assert!(cohorts.contains("<th>month +1</th>"));
        assert!(
            !cohorts.contains("month +2"),
            "two months observed: only +1"
        );
    }
}
