//! The analytics report as a user makes it: `strata gen` -> `strata recompute
//! --report-data` -> `strata report`, then the page rendered in headless
//! Chromium (Debian's `chromium`, which `.ci/run` installs) to check that
//! every chart is there and drawn.

use std::path::Path;
use std::process::Command;

use strata_report::RunReport;

use crate::support::{strata, succeeded};

const CHROMIUM: &str = "/usr/bin/chromium";
const AS_OF: &str = "2025-01-01T00:00:00Z";

/// Every chart the page must hold, with the fewest `<rect>` (the white
/// background is one) and `<polyline>` elements its drawing needs.
const CHARTS: &[(&str, usize, usize)] = &[
    // Five retail layers, active and churned parts.
    ("chart-pyramid", 6, 0),
    ("chart-funnel", 6, 0),
    // A year of monthly cohorts: at least a cell per cohort.
    ("chart-cohorts", 13, 0),
    ("chart-tiers", 4, 0),
    ("chart-quadrants", 5, 0),
    ("chart-transitions", 6, 0),
    // Predicted and actual lines.
    ("chart-bgnbd", 1, 2),
    // Three AUC bars.
    ("chart-propensity", 4, 0),
    // Four candidate policies: a bar each (no offer's is empty) and an
    // interval whisker with two end ticks each.
    ("chart-offers", 4, 12),
];

fn path(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// The DOM Chromium builds from the page, and its log on stderr.
fn render_in_chromium(page: &Path, profile: &Path) -> (String, String) {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: this test renders the report in Debian's chromium \
         (apt-get install chromium; .ci/run installs it)"
    );
    let output = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--disable-gpu",
            // Root in CI containers has no user namespace sandbox.
            "--no-sandbox",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", path(profile)))
        .arg("--dump-dom")
        .arg(format!("file://{}", path(page)))
        .output()
        .expect("run chromium");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "chromium failed:\n{stderr}");
    (String::from_utf8_lossy(&output.stdout).into_owned(), stderr)
}

/// The markup of `<figure id="{id}">` in `dom`.
fn figure<'a>(dom: &'a str, id: &str) -> &'a str {
    let start = dom
        .find(&format!("<figure id=\"{id}\">"))
        .unwrap_or_else(|| panic!("no figure {id} in the rendered page"));
    let end = dom[start..]
        .find("</figure>")
        .unwrap_or_else(|| panic!("figure {id} is not closed"));
    &dom[start..start + end]
}

fn count(markup: &str, tag: &str) -> usize {
    markup.matches(&format!("<{tag} ")).count() + markup.matches(&format!("<{tag}>")).count()
}

#[test]
fn report_of_a_recompute_renders_every_chart_in_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.parquet");
    let data = dir.path().join("run.json");
    let direct = dir.path().join("direct.html");
    let page = dir.path().join("report.html");
    succeeded(strata(&[
        "gen",
        "--users",
        "2000",
        "--seed",
        "7",
        "--out",
        path(&events),
    ]));
    // No --push and no --snapshot: compute and report only.
    let stdout = succeeded(strata(&[
        "recompute",
        "--events",
        path(&events),
        "--as-of",
        AS_OF,
        "--state",
        path(&dir.path().join("state.jsonl")),
        "--report-data",
        path(&data),
        "--report",
        path(&direct),
    ]));
    assert!(stdout.contains("users      2000"), "{stdout}");
    let stdout = succeeded(strata(&[
        "report",
        "--run",
        path(&data),
        "--out",
        path(&page),
    ]));
    assert!(stdout.contains("report written to"), "{stdout}");

    // The numbers the recompute handed over.
    let run = RunReport::from_json(&std::fs::read_to_string(&data).unwrap()).unwrap();
    assert_eq!(run.users, 2000);
    assert_eq!(
        run.layers.iter().map(|layer| layer.total()).sum::<u64>(),
        2000
    );
    let names: Vec<&str> = run.layers.iter().map(|layer| layer.name.as_str()).collect();
    assert_eq!(names, ["potential", "new", "growth", "mature", "declining"]);
    // gen's year of history ends at the as-of time, a month boundary.
    assert_eq!(run.cohorts.rows.len(), 12, "{:?}", run.cohorts);
    assert!(!run.cohorts.partial_last_month);
    for row in &run.cohorts.rows {
        assert_eq!(row.buyers[0], row.size, "{row:?}");
    }
    let holdout = run.models.bg_nbd_holdout.as_ref().unwrap();
    assert!(holdout.buckets.len() >= 4, "{holdout:?}");
    let offers = run.models.offers.as_ref().expect("an offer policy");
    assert_eq!(offers.candidates.len(), 4, "{offers:?}");
    assert!(offers.fairness.is_some(), "{offers:?}");
    assert!(run.models.propensity.model_auc.is_some());

    // Self-contained: one file, nothing fetched, no script.
    let html = std::fs::read_to_string(&page).unwrap();
    assert_eq!(
        html,
        std::fs::read_to_string(&direct).unwrap(),
        "recompute --report renders the same page"
    );
    for outside in ["<script", "<link", "src=", "url("] {
        assert!(!html.contains(outside), "the page holds {outside}");
    }

    let (dom, log) = render_in_chromium(&page, &dir.path().join("chromium-profile"));
    assert!(!log.contains("Uncaught"), "script errors:\n{log}");
    for (id, rects, polylines) in CHARTS {
        let figure = figure(&dom, id);
        assert_eq!(count(figure, "svg"), 1, "{id}");
        assert!(count(figure, "figcaption") == 1, "{id} has no caption");
        // At least one: the propensity figure adds its reliability table.
        assert!(count(figure, "table") >= 1, "{id} has no table");
        let texts = count(figure, "text");
        assert!(texts >= 3, "{id}: {texts} text elements");
        let drawn = count(figure, "rect");
        assert!(drawn >= *rects, "{id}: {drawn} rects, expected {rects}+");
        let lines = count(figure, "polyline");
        assert!(
            lines >= *polylines,
            "{id}: {lines} polylines, expected {polylines}+"
        );
    }
    // Layer names reach the page, as chart labels and in the tables.
    let pyramid = figure(&dom, "chart-pyramid");
    for name in names {
        // plotters writes each SVG text on its own line.
        assert!(pyramid.contains(&format!("\n{name}\n</text>")), "{name}");
    }
}

#[test]
fn report_names_a_missing_or_foreign_run_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.json");
    let output = strata(&[
        "report",
        "--run",
        path(&missing),
        "--out",
        path(&dir.path().join("out.html")),
    ]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("nope.json"), "{stderr}");

    let foreign = dir.path().join("other.json");
    std::fs::write(&foreign, r#"{"users": 3}"#).unwrap();
    let output = strata(&[
        "report",
        "--run",
        path(&foreign),
        "--out",
        path(&dir.path().join("out.html")),
    ]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("other.json") && stderr.contains("missing field"),
        "{stderr}"
    );
}
