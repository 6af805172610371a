//! The report printed at the end of a recompute run, and the same numbers
//! as the machine-readable run report that `strata report` renders.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use strata_core::UnixMillis;
use strata_core::UserHistory;
use strata_core::labels::tier_rank;
use strata_events::input::InputReport;
use strata_proto::v1::{BenefitKind, Profile};
use strata_report::{
    BenefitMix, BgNbdFit, CohortMatrix, Count, GammaGammaFit, LayerCount, LayerValue, ModelChecks,
    PropensityCheck, RunReport, Transition, ValueReport,
};

use crate::decisions::ModelReport;
use crate::push::PushOutcome;

#[derive(Debug, Clone, Default)]
pub struct RunSummary {
    pub input: InputReport,
    /// Events dated after the as-of time, left out.
    pub ignored_after_as_of: u64,
    /// What the input looked like to the model, e.g. most events of types
    /// it does not read; also logged.
    pub warnings: Vec<String>,
    /// The model names no value event: no tier, lifetime value or offer.
    pub no_value_events: bool,
    pub users: u64,
    /// (layer index, label) -> users; a churned state reads `growth (churned)`.
    pub layers: BTreeMap<(u32, String), u64>,
    pub tiers: BTreeMap<String, u64>,
    pub quadrants: BTreeMap<String, u64>,
    /// (from, to) -> users; "(none)" for users new to the job.
    pub transitions: BTreeMap<(String, String), u64>,
    /// Users whose profile differs from the last delivered one.
    pub changed: u64,
    pub unchanged: u64,
    pub deleted: u64,
    pub pushed: Option<PushOutcome>,
    /// A push interrupted by an earlier crash, finished at the start.
    pub resumed: Option<PushOutcome>,
    /// Where the server did not hold what the state file recorded, and
    /// what the run did about it (a full push, a dropped plan).
    pub reconciled: Vec<String>,
    pub phases: Vec<(&'static str, Duration)>,
    pub models: ModelReport,
    /// The model's layer names in its order (the pyramid's and funnel's rows).
    pub layer_names: Vec<String>,
    /// Buyers by first-purchase month and the months they bought in.
    pub cohorts: CohortMatrix,
    /// Revenue, predicted value by layer and the benefits recommended.
    pub value: ValueTally,
}

/// The run's money, tallied user by user as profiles are made: the
/// report's headline, its value by layer and its offers made.
#[derive(Debug, Clone, Default)]
pub struct ValueTally {
    buyers: u64,
    revenue: f64,
    currency: String,
    horizon_days: u32,
    /// Layer index -> users with a predicted value, and their sum.
    layers: BTreeMap<u32, (u64, f64)>,
    /// Benefit id -> kind, users it is recommended to, expected profit.
    benefits: BTreeMap<String, (String, u64, f64)>,
}

impl ValueTally {
    /// A user's purchases before the as-of time.
    pub fn add_history(&mut self, history: &UserHistory) {
        if history.purchase_day_count() > 0 {
            self.buyers += 1;
            self.revenue += history.total_spend();
        }
    }

    /// A profile's predicted value, in the layer it counts under
    /// ([`ProfileValue`]); each layer's sum adds in the order users come.
    pub(crate) fn add_lifetime(&mut self, layer: u32, lifetime: Option<(f64, u32)>) {
        if let Some((predicted_value, horizon_days)) = lifetime {
            let entry = self.layers.entry(layer).or_default();
            entry.0 += 1;
            entry.1 += predicted_value;
            self.horizon_days = self.horizon_days.max(horizon_days);
        }
    }

    /// The currency of a predicted value: the first one given counts.
    pub(crate) fn add_currency(&mut self, currency: &str) {
        if self.currency.is_empty() {
            currency.clone_into(&mut self.currency);
        }
    }

    /// One benefit recommended to one user; each benefit's sum adds in the
    /// order users come.
    pub(crate) fn add_benefit(&mut self, benefit_id: &str, kind: i32, profit: f64) {
        // Looked up by reference first: the id is copied once per
        // benefit, not once per user.
        if !self.benefits.contains_key(benefit_id) {
            self.benefits
                .insert(benefit_id.to_owned(), (kind_name(kind), 0, 0.0));
        }
        let entry = self.benefits.get_mut(benefit_id).expect("inserted above");
        entry.1 += 1;
        entry.2 += profit;
    }

    /// The report's view, layers named by `layer_names` (every layer, in
    /// the model's order), benefits most recommended first.
    pub fn report(&self, layer_names: &[String]) -> ValueReport {
        let mut benefits: Vec<BenefitMix> = self
            .benefits
            .iter()
            .map(|(benefit_id, (kind, users, profit))| BenefitMix {
                benefit_id: benefit_id.clone(),
                kind: kind.clone(),
                users: *users,
                expected_incremental_profit: *profit,
            })
            .collect();
        benefits.sort_by_key(|benefit| std::cmp::Reverse(benefit.users));
        ValueReport {
            currency: self.currency.clone(),
            buyers: self.buyers,
            revenue: self.revenue,
            valued_users: self.layers.values().map(|(users, _)| users).sum(),
            predicted_value: self.layers.values().map(|(_, value)| value).sum(),
            horizon_days: self.horizon_days,
            layers: layer_names
                .iter()
                .enumerate()
                .map(|(index, name)| {
                    let (valued_users, predicted_value) = self
                        .layers
                        .get(&(index as u32))
                        .copied()
                        .unwrap_or_default();
                    LayerValue {
                        index: index as u32,
                        name: name.clone(),
                        valued_users,
                        predicted_value,
                    }
                })
                .collect(),
            benefits,
        }
    }
}

/// What [`ValueTally`] reads of a profile besides its benefits and its
/// currency: the layer it counts under, and its predicted value with the
/// horizon. Small and owning nothing, so the thread that made the profile
/// can take it and free the profile itself.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ProfileValue {
    pub(crate) layer: u32,
    /// The predicted value and its horizon in days.
    pub(crate) lifetime: Option<(f64, u32)>,
}

impl ProfileValue {
    pub(crate) fn of(profile: &Profile) -> ProfileValue {
        ProfileValue {
            layer: profile
                .lifecycle
                .as_ref()
                .map_or(0, |stage| stage.layer_index),
            lifetime: profile
                .lifetime_value
                .as_ref()
                .map(|value| (value.predicted_value, value.horizon_days)),
        }
    }
}

/// `coupon`, `free shipping`: a benefit kind as the report writes it.
fn kind_name(kind: i32) -> String {
    BenefitKind::try_from(kind).map_or_else(
        |_| "none (unknown kind)".to_owned(),
        |kind| {
            kind.as_str_name()
                .trim_start_matches("BENEFIT_KIND_")
                .to_lowercase()
                .replace('_', " ")
        },
    )
}

impl RunSummary {
    /// The run's numbers for `strata report`.
    pub fn report_data(&self, preset: &str, model_version: &str, as_of: UnixMillis) -> RunReport {
        let mut layers: Vec<LayerCount> = self
            .layer_names
            .iter()
            .enumerate()
            .map(|(index, name)| LayerCount {
                index: index as u32,
                name: name.clone(),
                active: 0,
                churned: 0,
            })
            .collect();
        for ((index, label), count) in &self.layers {
            let Some(layer) = layers.get_mut(*index as usize) else {
                continue;
            };
            // Any other label than the layer's own name is its churned state.
            if *label == layer.name {
                layer.active += count;
            } else {
                layer.churned += count;
            }
        }
        let counts = |counts: &BTreeMap<String, u64>| {
            counts
                .iter()
                .map(|(name, count)| Count {
                    name: name.clone(),
                    count: *count,
                })
                .collect()
        };
        RunReport {
            format: strata_report::FORMAT,
            preset: preset.to_owned(),
            model_version: model_version.to_owned(),
            as_of: strata_events::input::timestamp::format_rfc3339(as_of)
                .unwrap_or_else(|| as_of.to_string()),
            users: self.users,
            events: self.input.events,
            bad_rows: self.input.bad_rows,
            layers,
            tiers: {
                let mut tiers: Vec<Count> = counts(&self.tiers);
                tiers.sort_by_key(|tier| tier_rank(&tier.name));
                tiers
            },
            quadrants: counts(&self.quadrants),
            transitions: self
                .transitions
                .iter()
                .map(|((from, to), count)| Transition {
                    from: from.clone(),
                    to: to.clone(),
                    count: *count,
                })
                .collect(),
            cohorts: self.cohorts.clone(),
            models: self.models.checks(),
            value: self.value.report(&self.layer_names),
        }
    }
}

impl ModelReport {
    fn checks(&self) -> ModelChecks {
        ModelChecks {
            bg_nbd: self
                .bg_nbd
                .as_ref()
                .map(|(parameters, log_likelihood)| BgNbdFit {
                    r: parameters.r,
                    alpha: parameters.alpha,
                    a: parameters.a,
                    b: parameters.b,
                    log_likelihood: *log_likelihood,
                }),
            gamma_gamma: self.gamma_gamma.as_ref().map(|parameters| GammaGammaFit {
                p: parameters.p,
                q: parameters.q,
                gamma: parameters.gamma,
            }),
            bg_nbd_holdout: self.bg_nbd_holdout.clone(),
            propensity: PropensityCheck {
                window_days: self.propensity_window_days,
                model_auc: self.propensity_auc,
                recency_auc: self.recency_auc,
                bg_nbd_auc: self.bg_nbd_auc,
                ..crate::propensity::report_check(self.propensity_choice.as_ref())
            },
            offers: self.offer_policy.clone(),
            users_with_benefits: self.users_with_benefits,
            fairness_changes: self.fairness_changes as u64,
            capped_users: self.capped_users,
            notes: self.notes.clone(),
            predictions: self.predictions.clone(),
        }
    }
}

fn share(count: u64, total: u64) -> f64 {
    if total == 0 {
        0.0
    } else {
        100.0 * count as f64 / total as f64
    }
}

impl fmt::Display for RunSummary {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        let input = &self.input;
        writeln!(out, "recompute summary")?;
        writeln!(
            out,
            "  input      {} files, {} rows, {} events, {} bad rows, {} after as-of (ignored)",
            input.files, input.rows, input.events, input.bad_rows, self.ignored_after_as_of
        )?;
        for bad in input.bad_row_samples.iter().take(5) {
            writeln!(out, "             bad row {bad}")?;
        }
        for warning in &self.warnings {
            writeln!(out, "  warning    {warning}")?;
        }
        writeln!(out, "  users      {}", self.users)?;
        writeln!(out, "  layers (the pyramid)")?;
        let widest = self.layers.values().copied().max().unwrap_or(0);
        for ((index, label), count) in self.layers.iter().rev() {
            let width = if widest == 0 {
                0
            } else {
                (40 * count).div_ceil(widest) as usize
            };
            writeln!(
                out,
                "    {index} {label:<26} {count:>9} {:>5.1}% {}",
                share(*count, self.users),
                "#".repeat(width)
            )?;
        }
        let mut tiers: Vec<(&String, &u64)> = self.tiers.iter().collect();
        tiers.sort_by_key(|(name, _)| tier_rank(name));
        let quadrants: Vec<(&String, &u64)> = self.quadrants.iter().collect();
        let mut blocks = vec![("value tiers", tiers), ("quadrants", quadrants)];
        if self.no_value_events {
            writeln!(
                out,
                "  value      no value events in this preset: tiers, lifetime value and offers \
                 are not computed"
            )?;
            blocks.remove(0);
        }
        for (title, counts) in blocks {
            writeln!(out, "  {title}")?;
            for (name, count) in counts {
                writeln!(
                    out,
                    "    {name:<30} {count:>9} {:>5.1}%",
                    share(*count, self.users)
                )?;
            }
        }
        // Without value events every model line would read n/a and every
        // note "nothing to fit": the value line above says it once.
        if !self.no_value_events {
            write!(out, "{}", self.models)?;
        }
        writeln!(out, "  transitions")?;
        if self.transitions.is_empty() {
            writeln!(out, "    none")?;
        }
        for ((from, to), count) in &self.transitions {
            writeln!(out, "    {from:>22} -> {to:<26} {count:>9}")?;
        }
        writeln!(
            out,
            "  delivery   {} changed, {} unchanged, {} erased",
            self.changed, self.unchanged, self.deleted
        )?;
        for note in &self.reconciled {
            writeln!(out, "  reconcile  {note}")?;
        }
        for (what, outcome) in [("resumed", &self.resumed), ("pushed", &self.pushed)] {
            if let Some(outcome) = outcome {
                writeln!(
                    out,
                    "  {what:<10} {} batches sent ({} upserts, {} deletes), {} already applied",
                    outcome.batches_sent, outcome.upserts, outcome.deletes, outcome.batches_skipped
                )?;
            }
        }
        let phases: Vec<String> = self
            .phases
            .iter()
            .map(|(phase, took)| format!("{phase} {:.2}s", took.as_secs_f64()))
            .collect();
        writeln!(out, "  time       {}", phases.join(", "))?;
        let read = self
            .phases
            .iter()
            .find(|(phase, _)| *phase == "read")
            .map(|(_, took)| took.as_secs_f64());
        if let Some(seconds) = read.filter(|seconds| *seconds > 0.0) {
            writeln!(
                out,
                "  throughput {:.0} events/s read",
                input.events as f64 / seconds
            )?;
        }
        Ok(())
    }
}

impl fmt::Display for ModelReport {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        let number =
            |value: Option<f64>| value.map_or("none".to_owned(), |value| format!("{value:.3}"));
        writeln!(out, "  models")?;
        if let Some((parameters, log_likelihood)) = &self.bg_nbd {
            writeln!(
                out,
                "    BG/NBD       r {:.3}, alpha {:.3}, a {:.3}, b {:.3}, log-likelihood {:.1}",
                parameters.r, parameters.alpha, parameters.a, parameters.b, log_likelihood
            )?;
        }
        if let Some(parameters) = &self.gamma_gamma {
            writeln!(
                out,
                "    Gamma-Gamma  p {:.3}, q {:.3}, gamma {:.3}",
                parameters.p, parameters.q, parameters.gamma
            )?;
        }
        writeln!(
            out,
            "    outliers     {} mean spends capped for Gamma-Gamma, {} offer outcomes capped for \
             the offer policy",
            self.spend_outliers, self.outcome_outliers
        )?;
        writeln!(
            out,
            "    propensity   holdout AUC {} (recency alone {}, BG/NBD expected purchases {})",
            number(self.propensity_auc),
            number(self.recency_auc),
            number(self.bg_nbd_auc)
        )?;
        if let Some(choice) = &self.propensity_choice {
            write!(out, "{}", crate::propensity::SummaryLines(choice))?;
        }
        if let Some(check) = &self.predictions {
            write!(out, "{}", crate::churn::SummaryLines(check))?;
        }
        write!(out, "{}", crate::offers::SummaryLines(self))?;
        writeln!(
            out,
            "    benefits     {} users with recommendations; fairness rule changed {} users; {} users over the contact cap",
            self.users_with_benefits, self.fairness_changes, self.capped_users
        )?;
        writeln!(
            out,
            "    channels     every channel ranked by shrunk response rate; {} users in the \
             population's order (fewer than 3 sends on 2 channels)",
            self.channel_not_enough_data
        )?;
        write!(out, "{}", SendTimeLine(self))?;
        for note in &self.notes {
            writeln!(out, "    note: {note}")?;
        }
        Ok(())
    }
}

/// The send-time line: the backtest's verdict and who got which hour.
struct SendTimeLine<'a>(&'a ModelReport);

impl fmt::Display for SendTimeLine<'_> {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        let report = self.0;
        let Some(backtest) = &report.send_time else {
            return Ok(());
        };
        let rate =
            |value: Option<f64>| value.map_or("none".to_owned(), |value| format!("{value:.4}"));
        let verdict = if backtest.personal_wins() {
            "personal hours served"
        } else {
            "personal hours do not beat it: the population's hour is served to everyone"
        };
        writeln!(
            out,
            "    send time    held-out response rate (odd weeks, within 1h of the hour of day) {} at \
             personal hours vs {} at the population's best hour {} (UTC), {} users scored: {verdict}; \
             {} users on their own hour, {} on the population's",
            rate(backtest.personal_rate()),
            rate(backtest.population_rate()),
            hour_name(backtest.population_best),
            backtest.scored_users,
            report.send_time_personal,
            report.send_time_fallbacks,
        )
    }
}

/// `Sat 20h` for hour of the week 140.
pub fn hour_name(hour_of_week: usize) -> String {
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    format!(
        "{} {:02}h",
        DAYS[(hour_of_week / 24) % 7],
        hour_of_week % 24
    )
}
