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
    // Mean predicted lifetime value of the four layers of buyers
    // ("potential" users never bought: no prediction).
    ("chart-value", 5, 0),
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
         (apt-get install chromium; ./dev test installs it)"
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

/// Appended to a copy of the page (the page itself has no script): reads
/// the layout Chromium computed and leaves it as JSON in `<pre id="probe">`,
/// which `--dump-dom` prints.
const PROBE: &str = r#"<script>
(() => {
  const box = (element) => element.getBoundingClientRect();
  const out = { headline: {}, cells: [], tiers: [], legends: [], empty_columns: [] };
  for (const stat of document.querySelectorAll('#headline .stat')) {
    out.headline[stat.dataset.key] = stat.dataset.value;
  }
  for (const cell of document.querySelectorAll('#chart-quadrants .quadrant-grid .cell')) {
    const at = box(cell);
    out.cells.push({ name: cell.dataset.quadrant, users: Number(cell.dataset.users),
      left: Math.round(at.left), top: Math.round(at.top), width: at.width, height: at.height,
      label: cell.querySelector('b').textContent, meaning: cell.querySelector('.meaning').textContent });
  }
  const tiers = document.querySelector('#chart-tiers table');
  for (const row of [...tiers.rows].slice(1)) { out.tiers.push(row.cells[0].textContent); }
  for (const legend of document.querySelectorAll('figure .legend')) {
    const figure = legend.closest('figure');
    const plot = box(figure.querySelector('svg'));
    const at = box(legend);
    out.legends.push({ figure: figure.id, width: at.width, height: at.height,
      overlaps: at.left < plot.right && plot.left < at.right && at.top < plot.bottom && plot.top < at.bottom });
  }
  for (const table of document.querySelectorAll('table')) {
    const rows = [...table.rows];
    if (rows.length < 2) continue;
    for (let column = 0; column < rows[0].cells.length; column++) {
      const empty = rows.slice(1).every((row) => !row.cells[column] || row.cells[column].textContent.trim() === '');
      if (empty) out.empty_columns.push(`${table.closest('figure').id}: ${rows[0].cells[column].textContent}`);
    }
  }
  const pre = document.createElement('pre');
  pre.id = 'probe';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
</script>"#;

/// What [`PROBE`] measured in Chromium's layout of `page`, and a
/// screenshot of the whole page in `screenshots`.
fn probe_in_chromium(page: &Path, profile: &Path, screenshots: &Path) -> serde_json::Value {
    let html = std::fs::read_to_string(page).unwrap();
    let probed = page.with_file_name("probed.html");
    std::fs::write(
        &probed,
        html.replace("</body>", &format!("{PROBE}\n</body>")),
    )
    .unwrap();
    let (dom, log) = render_in_chromium(&probed, profile);
    assert!(!log.contains("Uncaught"), "probe errors:\n{log}");
    let start = dom.find("<pre id=\"probe\">").expect("the probe ran") + "<pre id=\"probe\">".len();
    let end = start + dom[start..].find("</pre>").unwrap();
    let json = dom[start..end]
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    std::fs::create_dir_all(screenshots).unwrap();
    let shot = screenshots.join("report.png");
    let output = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--disable-gpu",
            "--no-sandbox",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", path(profile)))
        .arg("--window-size=1000,9000")
        .arg(format!("--screenshot={}", path(&shot)))
        .arg(format!("file://{}", path(page)))
        .output()
        .expect("run chromium");
    assert!(
        output.status.success(),
        "chromium screenshot failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        std::fs::metadata(&shot).unwrap().len() > 10_000,
        "an empty screenshot"
    );
    eprintln!("report screenshot: {}", shot.display());
    serde_json::from_str(&json).unwrap_or_else(|error| panic!("{error}: {json}"))
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
    // The quadrants are a grid of the page rather than a drawing.
    let quadrants = figure(&dom, "chart-quadrants");
    assert_eq!(quadrants.matches("class=\"cell\"").count(), 4);
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
    // The page names the file it was made from, not a fixed name.
    assert!(
        html.contains("<code>run.json</code>"),
        "the header names run.json"
    );
    assert!(!html.contains("report.json"));

    // The new sections, as Chromium lays them out.
    let screenshots = std::env::temp_dir().join(format!("strata-report-{}", std::process::id()));
    let probe = probe_in_chromium(&page, &dir.path().join("chromium-probe"), &screenshots);
    // Headline numbers are the run report's.
    let headline = &probe["headline"];
    let mean = run
        .value
        .mean_predicted_value()
        .expect("users with a value");
    for (key, expected) in [
        ("users", run.users.to_string()),
        ("buyers", run.value.buyers.to_string()),
        ("revenue", format!("{:.2}", run.value.revenue)),
        ("mean-lifetime-value", format!("{mean:.2}")),
        (
            "users-with-offers",
            run.models.users_with_benefits.to_string(),
        ),
    ] {
        assert_eq!(headline[key], expected.as_str(), "headline {key}: {probe}");
    }
    assert!(
        run.value.buyers > 0 && run.value.buyers < run.users,
        "{:?}",
        run.value
    );
    assert!(run.value.revenue > 0.0);
    // The offers made: a bar per benefit recommended, or (gen's data serves
    // "no offer" today) a chart that says there is none.
    let benefits = figure(&dom, "chart-benefits");
    assert_eq!(count(benefits, "svg"), 1);
    assert_eq!(
        run.value
            .benefits
            .iter()
            .map(|benefit| benefit.users)
            .max()
            .unwrap_or(0)
            > 0,
        run.models.users_with_benefits > 0,
        "{:?}",
        run.value
    );
    if run.value.benefits.is_empty() {
        assert!(
            benefits.contains("no benefit is recommended to anyone"),
            "{benefits}"
        );
    } else {
        assert!(
            count(benefits, "rect") > run.value.benefits.len(),
            "{benefits}"
        );
    }
    // Buyers are the cohorts' members: everyone with a first purchase.
    assert_eq!(
        run.value.buyers,
        run.cohorts.rows.iter().map(|row| row.size).sum::<u64>()
    );
    // The 2x2 grid: four labelled cells, two columns by two rows, in the
    // order loyalty (rows) x satisfaction (columns).
    let cells = probe["cells"].as_array().unwrap();
    let quadrants: Vec<&str> = cells
        .iter()
        .map(|cell| cell["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        quadrants,
        ["ANGEL", "FREELOADER", "HOSTAGE", "DANGER"],
        "{probe}"
    );
    let at = |index: usize, key: &str| cells[index][key].as_i64().unwrap();
    assert!(
        at(0, "top") == at(1, "top") && at(2, "top") == at(3, "top") && at(0, "top") < at(2, "top"),
        "{probe}"
    );
    assert!(
        at(0, "left") == at(2, "left")
            && at(1, "left") == at(3, "left")
            && at(0, "left") < at(1, "left"),
        "{probe}"
    );
    for cell in cells {
        assert!(
            cell["width"].as_f64().unwrap() > 100.0 && cell["height"].as_f64().unwrap() > 40.0,
            "{cell}"
        );
        assert_eq!(cell["label"], cell["name"]);
        assert!(cell["meaning"].as_str().unwrap().len() > 10, "{cell}");
        let users = run
            .quadrants
            .iter()
            .find(|count| count.name == cell["name"].as_str().unwrap())
            .map_or(0, |count| count.count);
        assert_eq!(cell["users"].as_u64().unwrap(), users, "{cell}");
    }
    // Tiers best first, users without one last.
    let tiers: Vec<&str> = probe["tiers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|tier| tier.as_str().unwrap())
        .collect();
    assert_eq!(
        tiers,
        ["HIGH", "MEDIUM", "LOW", "none (no purchase)"],
        "{probe}"
    );
    // Legends are drawn and never on a chart.
    let legends = probe["legends"].as_array().unwrap();
    assert!(legends.len() >= 4, "{probe}");
    for legend in legends {
        assert_eq!(legend["overlaps"], false, "{legend}");
        assert!(
            legend["width"].as_f64().unwrap() > 0.0 && legend["height"].as_f64().unwrap() > 0.0,
            "{legend}"
        );
    }
    assert_eq!(probe["empty_columns"], serde_json::json!([]), "{probe}");

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
