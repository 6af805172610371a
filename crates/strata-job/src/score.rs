//! Scoring a population in two stages with the model file between them.
//! **Fit** ([`fit`]): every population-wide quantity, over all users in id
//! order: the rules' cut points (value tier, quadrant), the decision models
//! (lifetime, propensity, channel), the offer policy and the fairness
//! rule's repairs per group and kind ([`FittedModels`]). **Apply**: per
//! user, from the fitted models and that user's history alone: the rules,
//! the decisions, the offers with the fairness repairs, the profile; then
//! tags and campaign arms (an audience ranks the run's profiles), and the
//! diff against what was delivered before (with the summary's tallies).
//! A plain run fits and applies in one process, through the model file's
//! own encoding, so it serves exactly what workers applying the written
//! file serve.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::hash::Hasher;

use prost::Message;
use strata_audience::GlobalControl;
use strata_core::labels;
use strata_core::{LoyaltySatisfaction, QuadrantScorer, RfmInput, UserHistory, ValueScorer};
use strata_proto::v1::Profile;
use strata_snapshot::SnapshotWriter;
use twox_hash::XxHash3_64;

use crate::decisions::{Decisions, ModelReport, UserSegment};
use crate::error::RecomputeError;
use crate::model_file::{DataWindow, FittedModels, ModelFile};
use crate::offers::{self, OfferServer, ServedList};
use crate::options::{Delivery, RecomputeOptions};
use crate::push::PlanFiles;
use crate::state::{JobState, StateHeader, UserEntry, Users};
use crate::summary::ProfileValue;
use crate::threads::{map_in_order, score_threads};
use crate::wire::{self, full_snapshot_header, millis_to_timestamp, now_timestamp};

/// One run's profiles and how they differ from the last delivered state.
pub(crate) struct Scored {
    pub(crate) users: u64,
    pub(crate) changed: u64,
    pub(crate) deletes: Vec<String>,
    pub(crate) next_state: JobState,
    pub(crate) layers: BTreeMap<(u32, String), u64>,
    pub(crate) tiers: BTreeMap<String, u64>,
    pub(crate) quadrants: BTreeMap<String, u64>,
    pub(crate) transitions: BTreeMap<(String, String), u64>,
    /// (user, from, to) per changed layer, kept only when the run writes a
    /// transitions file (`--transitions`): a row per new user otherwise
    /// costs about 150 bytes each for nothing.
    pub(crate) transition_rows: Vec<(String, String, String)>,
    pub(crate) models: ModelReport,
    pub(crate) cohorts: strata_report::CohortMatrix,
    pub(crate) value: crate::summary::ValueTally,
}

pub(crate) type Histories = HashMap<String, Box<UserHistory>>;

/// The population in user id order: every population-wide fit sees users
/// in this order, so the same input gives the same bits (HashMap order
/// differs from run to run).
pub(crate) struct Population<'a> {
    users: Vec<(&'a str, &'a UserHistory)>,
}

impl<'a> Population<'a> {
    /// Over histories already in id order ([`in_id_order`]).
    pub(crate) fn of(owned: &'a [(String, Box<UserHistory>)]) -> Population<'a> {
        Population {
            users: owned
                .iter()
                .map(|(user_id, history)| (user_id.as_str(), &**history))
                .collect(),
        }
    }
}

/// The histories as owned pairs in id order: the fits borrow them, then
/// the apply stage consumes them step by step, so each step's histories are
/// freed, on the threads that applied them, as soon as its profiles are made.
pub(crate) fn in_id_order(histories: Histories) -> Vec<(String, Box<UserHistory>)> {
    let mut owned: Vec<(String, Box<UserHistory>)> = histories.into_iter().collect();
    owned.sort_unstable_by(|(left, _), (right, _)| left.cmp(right));
    owned
}

/// Scores every user and diffs the result against `previous`: with the
/// given model file's models, or (none given) with models fitted here over
/// `histories`, read back through the model file's encoding.
pub(crate) fn score(
    options: &RecomputeOptions,
    histories: Histories,
    previous: JobState,
    model_file: Option<&ModelFile>,
) -> Result<Scored, RecomputeError> {
    let owned = in_id_order(histories);
    let population = Population::of(&owned);
    let fitted_here;
    let fitted = match model_file {
        Some(file) => {
            file.models.check_run(options, &file.path)?;
            &file.models
        }
        None => {
            fitted_here = fit(options, &population)?.through_file()?;
            &fitted_here
        }
    };
    let card = crate::card::model_card(fitted);
    // What the summary needs of the histories besides the profiles: the
    // retention heat map (a few integers per cohort month), buyers and
    // revenue, and the users delivered before who have no events now.
    let mut cohorts = strata_report::CohortCounter::new(options.as_of);
    let mut value = crate::summary::ValueTally::default();
    for (_, history) in &population.users {
        cohorts.add_user(history.purchase_days().iter().map(|day| day.day));
        value.add_history(history);
    }
    // Both lists are in id order, so one walk over the two finds them (a
    // binary search per delivered user read scattered ids), in id order.
    let mut gone: Vec<String> = Vec::new();
    let mut now = owned.iter().map(|(user_id, _)| user_id.as_str()).peekable();
    for user_id in previous.users.keys() {
        while now.next_if(|known| *known < user_id).is_some() {}
        if now.peek() != Some(&user_id) {
            gone.push(user_id.to_owned());
        }
    }
    let users = owned.len();
    drop(population);

    let started = std::time::Instant::now();
    let _span = tracing::info_span!("apply").entered();
    let differ = Differ::new(options, &previous, users, card, value)?;
    let for_diff = differ.for_diff();
    let mut applier = Applier::new(options, fitted);
    // The diff of each step runs on its own thread while the next step is
    // applied; steps reach it in user order.
    let (steps, diffed) = std::sync::mpsc::sync_channel::<Step<'_>>(1);
    let differ = std::thread::scope(|scope| {
        let diff = scope.spawn(move || -> Result<Differ<'_>, RecomputeError> {
            let mut differ = differ;
            for step in diffed {
                differ.add(step)?;
            }
            Ok(differ)
        });
        if let Some(targeting) = &options.targeting {
            // Tags and campaign arms rank the whole population: every profile
            // is made before any is diffed.
            let (made, _) = applier.apply(owned, |_, profile, segment| (profile, segment));
            let (mut profiles, segments): (Vec<Profile>, Vec<Tallied<'_>>) =
                made.into_iter().unzip();
            targeting.apply(&mut profiles, options.as_of, options.models.currency_code());
            let (users, runs) = map_in_order(
                profiles.into_iter().zip(segments).collect(),
                score_threads(),
                DiffRun::default,
                |run, (profile, segment)| for_diff.prepare(run, profile, segment),
            );
            // A send fails only when the diff stopped on an error, which its
            // join returns.
            let _ = steps.send(Step::of(users, runs));
        } else {
            let mut rest = owned.into_iter();
            loop {
                let step: Vec<(String, Box<UserHistory>)> =
                    rest.by_ref().take(apply_step()).collect();
                if step.is_empty() {
                    break;
                }
                let (users, runs) = applier.apply(step, |run, profile, segment| {
                    for_diff.prepare(&mut run.for_diff, profile, segment)
                });
                let runs = runs.into_iter().map(|run| run.for_diff).collect();
                if steps.send(Step::of(users, runs)).is_err() {
                    break;
                }
            }
        }
        drop(steps);
        diff.join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })?;
    let report = applier.report(users);
    let mut scored = differ.finish()?;
    tracing::info!(
        users,
        seconds = started.elapsed().as_secs_f64(),
        "profiles applied and diffed"
    );
    scored.models = report;
    scored.cohorts = cohorts.finish();
    forget_or_erase_gone(options, gone, &previous, &mut scored);
    Ok(scored)
}

/// Index of the model's `new` layer (the fairness rule's floor).
fn new_layer(options: &RecomputeOptions) -> u32 {
    options
        .model
        .layers()
        .iter()
        .position(|layer| layer.name() == "new")
        .unwrap_or(1) as u32
}

/// The fit stage: every population-wide quantity over `population` (all
/// users, in id order, so the same input gives the same bits).
pub(crate) fn fit(
    options: &RecomputeOptions,
    population: &Population<'_>,
) -> Result<FittedModels, RecomputeError> {
    let as_of = options.as_of;
    let users = &population.users;
    let value_scorer = ValueScorer::fit(
        options.models.value,
        users
            .iter()
            .filter_map(|(_, history)| RfmInput::from_history(history, as_of)),
    )?;
    let quadrant_scorer = QuadrantScorer::fit(
        options.models.quadrant,
        users
            .iter()
            .map(|(_, history)| LoyaltySatisfaction::from_history(history, as_of)),
    )?;
    // The offer policy and the fairness rule read the users' segments.
    let segments: Vec<UserSegment> = users
        .iter()
        .map(|(_, history)| user_rules(options, &value_scorer, &quadrant_scorer, history).segment())
        .collect();
    // The offer learner (the longest fit) runs beside the propensity,
    // channel and send-time fits, once the lifetime fit it reads is done.
    let (mut decisions, (offers, offer_report)) =
        Decisions::fit_with(&options.models, as_of, users, |lifetime| {
            let mut report = ModelReport {
                bg_nbd: lifetime.bg_nbd,
                ..ModelReport::default()
            };
            let offers = offers::fit(
                &options.models,
                &options.model,
                as_of,
                users,
                &segments,
                new_layer(options),
                &mut report,
            );
            (offers, report)
        });
    decisions.report.absorb_offers(offer_report);
    Ok(FittedModels::identify(
        options,
        data_window(as_of, users),
        value_scorer,
        quadrant_scorer,
        decisions.models,
        offers,
        decisions.report,
    ))
}

/// What the models were fitted on.
fn data_window(as_of: strata_core::UnixMillis, users: &[(&str, &UserHistory)]) -> DataWindow {
    let day = |at: strata_core::UnixMillis| {
        strata_events::input::timestamp::format_rfc3339(at)
            .map(|text| text.chars().take(10).collect::<String>())
    };
    let first = users
        .iter()
        .filter_map(|(_, history)| history.first_seen())
        .min();
    let last = users
        .iter()
        .filter_map(|(_, history)| history.last_seen())
        .max();
    DataWindow {
        as_of_ms: as_of,
        as_of: strata_events::input::timestamp::format_rfc3339(as_of)
            .unwrap_or_else(|| as_of.to_string()),
        first_event_day: first.and_then(day),
        last_event_day: last.and_then(day),
        users: users.len() as u64,
        buyers: users
            .iter()
            .filter(|(_, history)| !history.purchase_days().is_empty())
            .count() as u64,
    }
}

/// The rule-based fields of one user (layer, value tier, quadrant), which
/// are also the models' segments.
fn user_rules<'m>(
    options: &'m RecomputeOptions,
    value_scorer: &ValueScorer,
    quadrant_scorer: &QuadrantScorer,
    history: &UserHistory,
) -> UserRules<'m> {
    let as_of = options.as_of;
    let stage = options.model.assign(history, as_of);
    let value = RfmInput::from_history(history, as_of).map(|input| value_scorer.score(&input));
    let loyalty_satisfaction = LoyaltySatisfaction::from_history(history, as_of);
    let quadrant = quadrant_scorer.classify(&loyalty_satisfaction);
    UserRules {
        stage,
        value,
        loyalty_satisfaction,
        quadrant,
    }
}

/// What the run summary counts of one user's rules.
struct Tallied<'m> {
    stage: strata_core::Stage<'m>,
    tier: &'static str,
    quadrant: &'static str,
}

/// Users per step of the apply stage: each step's profiles are diffed and
/// written before the next step makes its own, so a run never holds every
/// profile at once (unless tags or campaigns need them all).
/// `STRATA_APPLY_STEP` sets another size (tests use small steps: the
/// output is the same for any size).
fn apply_step() -> usize {
    std::env::var("STRATA_APPLY_STEP")
        .ok()
        .and_then(|value| value.trim().parse::<usize>().ok())
        .filter(|step| *step > 0)
        .unwrap_or(1 << 16)
}

/// The per-run tallies of the apply stage (integers: any grouping of the
/// users adds up the same).
#[derive(Default)]
struct ApplyTally {
    capped_users: u64,
    channel_not_enough_data: u64,
    send_time_personal: u64,
    send_time_fallbacks: u64,
    users_with_benefits: u64,
    /// Users in the global control group.
    held_out: u64,
}

/// What one apply thread keeps across its users.
struct ApplyRun<'a> {
    decisions: Decisions<'a>,
    users_with_benefits: u64,
    held_out: u64,
    for_diff: DiffRun<'a>,
}

/// Applied users on their way to the diff, in user order, as the diff
/// reads them, and the benefits recommended to them.
struct Step<'a> {
    users: Vec<Applied<'a>>,
    /// (benefit id, kind, expected profit) of each benefit recommended, in
    /// user order, in one list per thread that prepared them.
    benefits: Vec<Vec<(Cow<'a, str>, i32, f64)>>,
    /// The currency of the first predicted value in the step.
    currency: Option<String>,
    /// The encodings of the profiles to write, in user order, in one
    /// buffer per thread that prepared them.
    written: Vec<Vec<u8>>,
}

impl<'a> Step<'a> {
    /// The users prepared by `runs`, each a contiguous run of them in order.
    fn of(users: Vec<Applied<'a>>, runs: Vec<DiffRun<'a>>) -> Step<'a> {
        let mut step = Step {
            users,
            benefits: Vec::with_capacity(runs.len()),
            currency: None,
            written: Vec::with_capacity(runs.len()),
        };
        for run in runs {
            step.benefits.push(run.benefits);
            step.written.push(run.written);
            if step.currency.is_none() {
                step.currency = run.currency;
            }
        }
        step
    }
}

/// One applied user as the diff reads it: taken from the profile on the
/// thread that made it, which then frees the profile itself (a block freed
/// on another thread is mimalloc's slow path; the diff thread spent about
/// half its time freeing profiles at 1M when it freed them).
struct Applied<'a> {
    user_id: String,
    /// When the diff writes the profile (a snapshot, or a push plan's
    /// changed users): the length of its encoding (with its computed-at
    /// time) in the step's `written` bytes, never 0.
    written: Option<usize>,
    fingerprint: u64,
    /// What was delivered to the user before, if anything.
    before: Option<&'a UserEntry>,
    changed: bool,
    segment: Tallied<'a>,
    value: ProfileValue,
}

/// How each applied user is made ready for the diff, on the thread that
/// applied it ([`ForDiff::prepare`]).
#[derive(Clone, Copy)]
struct ForDiff<'a> {
    previous: &'a Users,
    full_push: bool,
    /// The diff writes profiles (a snapshot or a push plan)...
    writes: bool,
    /// ...every one of them, changed or not (a snapshot).
    write_everything: bool,
    /// The run's time, set in every profile written.
    computed_at: prost_types::Timestamp,
    /// The benefit ids the profiles name, borrowed instead of copied.
    catalog: &'a [crate::config::BenefitSpec],
}

/// What one thread gathers as it prepares users for the diff.
#[derive(Default)]
struct DiffRun<'a> {
    /// Where the last lookup in the previous state stopped: a thread's
    /// users come in id order.
    cursor: usize,
    /// The encoding buffer of [`fingerprint`].
    buffer: Vec<u8>,
    benefits: Vec<(Cow<'a, str>, i32, f64)>,
    /// The currency of the first predicted value met.
    currency: Option<String>,
    /// The encodings of the profiles to write, one after the other.
    written: Vec<u8>,
}

impl<'a> ForDiff<'a> {
    /// Fingerprints the final profile (while it is still in cache), looks
    /// it up in the previous state, takes what the diff reads of it, and
    /// encodes it with its computed-at time when the diff writes it.
    fn prepare(
        &self,
        run: &mut DiffRun<'a>,
        mut profile: Profile,
        segment: Tallied<'a>,
    ) -> Applied<'a> {
        let fingerprint = fingerprint(&mut run.buffer, &profile);
        let before = self.previous.get_after(&mut run.cursor, &profile.user_id);
        let changed = self.full_push || before.is_none_or(|entry| entry.fingerprint != fingerprint);
        let value = ProfileValue::of(&profile);
        if run.currency.is_none()
            && value.lifetime.is_some()
            && let Some(lifetime) = &profile.lifetime_value
            && !lifetime.currency.is_empty()
        {
            run.currency = Some(lifetime.currency.clone());
        }
        for benefit in &profile.benefits {
            let benefit_id = self
                .catalog
                .iter()
                .find(|spec| spec.benefit_id == benefit.benefit_id)
                .map_or_else(
                    || Cow::Owned(benefit.benefit_id.clone()),
                    |spec| Cow::Borrowed(spec.benefit_id.as_str()),
                );
            run.benefits.push((
                benefit_id,
                benefit.kind,
                benefit.expected_incremental_profit,
            ));
        }
        let written = (self.writes && (changed || self.write_everything)).then(|| {
            profile.computed_at = Some(self.computed_at);
            let start = run.written.len();
            profile
                .encode(&mut run.written)
                .expect("a Vec grows as needed");
            run.written.len() - start
        });
        Applied {
            user_id: std::mem::take(&mut profile.user_id),
            written,
            fingerprint,
            before,
            changed,
            segment,
            value,
        }
    }
}

/// XXH3-64 of the profile's encoding; it leaves out computed_at, which
/// changes every run (set only after).
fn fingerprint(buffer: &mut Vec<u8>, profile: &Profile) -> u64 {
    buffer.clear();
    profile.encode(buffer).expect("a Vec grows as needed");
    let mut hasher = XxHash3_64::default();
    hasher.write(buffer);
    hasher.finish()
}

/// The apply stage: each user from the fitted models and their own history
/// only (no step compares users), so any partition of the users gets the
/// same profiles. Each user's rules, decisions and offers go straight into
/// their profile.
struct Applier<'a> {
    options: &'a RecomputeOptions,
    fitted: &'a FittedModels,
    server: Option<OfferServer<'a>>,
    /// The model file's global control group: no offers, no campaigns.
    global_control: GlobalControl,
    /// Named in every benefit, for GetOffers' explanation.
    policy: String,
    tally: ApplyTally,
}

impl<'a> Applier<'a> {
    fn new(options: &'a RecomputeOptions, fitted: &'a FittedModels) -> Applier<'a> {
        let server = fitted.offers.as_ref().map(|model| {
            OfferServer::new(
                &options.models,
                &options.model,
                options.as_of,
                model,
                new_layer(options),
            )
        });
        // Checked when the config and the model file were read.
        let global_control = fitted
            .global_control
            .group()
            .unwrap_or_else(|_| GlobalControl::off());
        let policy = fitted
            .report
            .offer_policy
            .as_ref()
            .map_or_else(String::new, |check| check.served.clone());
        Applier {
            options,
            fitted,
            server,
            global_control,
            policy,
            tally: ApplyTally::default(),
        }
    }

    /// The profiles of `users`, in their order, on every core (each thread
    /// with its own `Decisions`, which counts the capped users), each passed
    /// with the user's rules to `finish` on the thread that made it (which
    /// [`ForDiff::prepare`]s final profiles for the diff there, while they
    /// are still in cache). Each history is dropped on its thread once its
    /// profile is made. Returns what `finish` made, in the users' order, and
    /// each thread's state.
    fn apply<U: Send>(
        &mut self,
        users: Vec<(String, Box<UserHistory>)>,
        finish: impl Fn(&mut ApplyRun<'a>, Profile, Tallied<'a>) -> U + Sync,
    ) -> (Vec<U>, Vec<ApplyRun<'a>>) {
        let options = self.options;
        let fitted = self.fitted;
        let (server, global_control, policy) = (&self.server, &self.global_control, &self.policy);
        let model = &options.model;
        let (per_user, runs) = map_in_order(
            users,
            score_threads(),
            || ApplyRun {
                decisions: Decisions::from_models(
                    &options.models,
                    options.as_of,
                    fitted.decisions.clone(),
                ),
                users_with_benefits: 0,
                held_out: 0,
                for_diff: DiffRun::default(),
            },
            |run, (user_id, history)| {
                let history = &*history;
                let rules = user_rules(options, &fitted.value, &fitted.quadrant, history);
                let decision = run.decisions.decide(history);
                let held_out = global_control.contains(&user_id);
                run.held_out += u64::from(held_out);
                let list = match server {
                    Some(server) if !held_out => server.serve(history, &rules.segment()),
                    _ => ServedList::default(),
                };
                if !list.offers.is_empty() {
                    run.users_with_benefits += 1;
                }
                let profile = Profile {
                    user_id,
                    lifecycle: Some(wire::lifecycle_to_wire(model.name(), &rules.stage)),
                    value_tier: rules.value.as_ref().map(wire::value_tier_to_wire),
                    lifetime_value: decision.lifetime_value,
                    quadrant: Some(wire::quadrant_to_wire(
                        &rules.loyalty_satisfaction,
                        rules.quadrant,
                    )),
                    propensity: decision.propensity,
                    contact_channel: decision.contact_channel,
                    send_time: decision.send_time,
                    benefits: offers::benefits(
                        &options.models,
                        options.as_of,
                        &list.offers,
                        policy,
                    ),
                    dropped_benefits: offers::dropped_benefits(&options.models, &list.dropped),
                    computed_at: None,
                    model_version: options.model_version.clone(),
                    tags: Vec::new(),
                    campaigns: Vec::new(),
                    last_purchase_at: history
                        .last_purchase_day()
                        .map(|day| millis_to_timestamp(i64::from(day) * 86_400_000)),
                    global_control: held_out,
                    churn: decision.churn,
                    next_order: decision.next_order,
                };
                let tallied = Tallied {
                    stage: rules.stage,
                    tier: rules
                        .value
                        .as_ref()
                        .map_or(labels::NO_TIER, |value| value.tier.name()),
                    quadrant: rules
                        .quadrant
                        .map_or(labels::NO_QUADRANT, |kind| kind.name()),
                };
                finish(run, profile, tallied)
            },
        );
        for run in &runs {
            let report = &run.decisions.report;
            self.tally.capped_users += report.capped_users;
            self.tally.channel_not_enough_data += report.channel_not_enough_data;
            self.tally.send_time_personal += report.send_time_personal;
            self.tally.send_time_fallbacks += report.send_time_fallbacks;
            self.tally.users_with_benefits += run.users_with_benefits;
            self.tally.held_out += run.held_out;
        }
        (per_user, runs)
    }

    /// The fit's report with this run's per-user tallies, once all `users`
    /// of the run are applied.
    fn report(self, users: usize) -> ModelReport {
        let mut report = self.fitted.report.clone();
        if self.global_control.is_on() {
            report.notes.push(format!(
                "global control group: {} of {users} users held out of every offer and \
                 campaign (share {}, salt {:?})",
                self.tally.held_out,
                self.global_control.share(),
                self.global_control.salt()
            ));
        }
        let tally = self.tally;
        report.capped_users = tally.capped_users;
        report.channel_not_enough_data = tally.channel_not_enough_data;
        report.send_time_personal = tally.send_time_personal;
        report.send_time_fallbacks = tally.send_time_fallbacks;
        report.users_with_benefits = tally.users_with_benefits;
        report
    }
}

/// The diff: each profile fingerprinted and diffed against what was delivered
/// before; changed ones (or all, for a snapshot) written; the summary's
/// pyramid and transitions tallied. Profiles come in steps, in user order.
struct Differ<'p> {
    options: &'p RecomputeOptions,
    previous: &'p JobState,
    computed_at: prost_types::Timestamp,
    snapshot: Option<SnapshotWriter>,
    write_everything: bool,
    counts: Counts<'p>,
    scored: Scored,
}

/// The summary's counts, keyed by borrowed labels and indices while users
/// are diffed, and given the summary's owned keys once at the end: copying
/// each key per user was about a sixth of the diff thread's time at 1M.
#[derive(Default)]
struct Counts<'p> {
    /// The distinct layer labels met (a handful), with their users.
    layers: Vec<LayerCount>,
    tiers: BTreeMap<&'static str, u64>,
    quadrants: BTreeMap<&'static str, u64>,
    /// (label delivered before, index in `layers` now) -> users.
    transitions: BTreeMap<(&'p str, usize), u64>,
}

/// One layer label and the stage it names.
struct LayerCount {
    layer_index: u32,
    layer: String,
    churned: bool,
    churn_label: Option<String>,
    label: String,
    users: u64,
}

impl Counts<'_> {
    /// The index in `layers` of the stage's label, counting the user.
    fn layer(&mut self, stage: &strata_core::Stage<'_>) -> usize {
        let known = self.layers.iter().position(|known| {
            known.layer_index == stage.layer_index
                && known.churned == stage.churned
                && known.layer == stage.layer
                && known.churn_label.as_deref() == stage.churn_label
        });
        let index = known.unwrap_or_else(|| {
            self.layers.push(LayerCount {
                layer_index: stage.layer_index,
                layer: stage.layer.to_owned(),
                churned: stage.churned,
                churn_label: stage.churn_label.map(str::to_owned),
                label: layer_label(stage),
                users: 0,
            });
            self.layers.len() - 1
        });
        self.layers[index].users += 1;
        index
    }

    /// Adds the counts to the summary's tallies.
    fn into_scored(self, scored: &mut Scored) {
        for (tier, users) in self.tiers {
            *scored.tiers.entry(tier.to_owned()).or_default() += users;
        }
        for (quadrant, users) in self.quadrants {
            *scored.quadrants.entry(quadrant.to_owned()).or_default() += users;
        }
        for ((from, to), users) in self.transitions {
            *scored
                .transitions
                .entry((from.to_owned(), self.layers[to].label.clone()))
                .or_default() += users;
        }
        for layer in self.layers {
            *scored
                .layers
                .entry((layer.layer_index, layer.label))
                .or_default() += layer.users;
        }
    }
}

impl<'p> Differ<'p> {
    /// `value` holds the histories' share of the value tally already.
    fn new(
        options: &'p RecomputeOptions,
        previous: &'p JobState,
        users: usize,
        card: strata_proto::v1::ModelCard,
        value: crate::summary::ValueTally,
    ) -> Result<Differ<'p>, RecomputeError> {
        let computed_at = now_timestamp();
        let header = || {
            full_snapshot_header(
                &options.model_version,
                options.model.name(),
                options.as_of,
                computed_at,
                Some(card.clone()),
            )
        };
        let snapshot = match &options.delivery {
            Delivery::Snapshot { path } => Some((path.clone(), header())),
            Delivery::Push { .. } => {
                Some((PlanFiles::beside(&options.state_file).upserts, header()))
            }
            Delivery::DryRun => None,
        }
        .map(|(path, header)| SnapshotWriter::create(&path, &header))
        .transpose()?;
        let scored = Scored {
            users: users as u64,
            changed: 0,
            deletes: Vec::new(),
            next_state: JobState {
                header: StateHeader {
                    format: 0,
                    producer_id: match &options.delivery {
                        Delivery::Push { producer_id, .. } => producer_id.clone(),
                        _ => previous.header.producer_id.clone(),
                    },
                    preset: options.model.name().to_owned(),
                    model_version: options.model_version.clone(),
                    as_of: options.as_of,
                    // Set by the run once the delivery is acknowledged.
                    server: None,
                },
                users: Users::with_capacity(users),
            },
            layers: BTreeMap::new(),
            tiers: BTreeMap::new(),
            quadrants: BTreeMap::new(),
            transitions: BTreeMap::new(),
            transition_rows: Vec::new(),
            models: ModelReport::default(),
            cohorts: strata_report::CohortMatrix::default(),
            value,
        };
        Ok(Differ {
            options,
            previous,
            computed_at,
            snapshot,
            write_everything: matches!(options.delivery, Delivery::Snapshot { .. }),
            counts: Counts::default(),
            scored,
        })
    }

    /// How the apply threads make users ready for this diff.
    fn for_diff(&self) -> ForDiff<'p> {
        ForDiff {
            previous: &self.previous.users,
            full_push: self.options.full_push,
            writes: self.snapshot.is_some(),
            write_everything: self.write_everything,
            computed_at: self.computed_at,
            catalog: &self.options.models.benefits,
        }
    }

    /// Diffs the next users.
    fn add(&mut self, step: Step<'p>) -> Result<(), RecomputeError> {
        let Step {
            users,
            benefits,
            currency,
            written,
        } = step;
        // The written profiles' encodings, in user order: each lies whole in
        // one thread's buffer, and none is empty.
        let mut buffers = written.iter().map(Vec::as_slice);
        let mut encodings: &[u8] = &[];
        let scored = &mut self.scored;
        if let Some(currency) = &currency {
            scored.value.add_currency(currency);
        }
        for user in users {
            let Applied {
                user_id,
                written,
                fingerprint,
                before,
                changed,
                segment,
                value,
            } = user;
            let counts = &mut self.counts;
            let to = counts.layer(&segment.stage);
            let layer = counts.layers[to].label.as_str();
            *counts.tiers.entry(segment.tier).or_default() += 1;
            *counts.quadrants.entry(segment.quadrant).or_default() += 1;
            scored.value.add_lifetime(value.layer, value.lifetime);

            if let Some(length) = written {
                while encodings.is_empty() {
                    encodings = buffers.next().expect("each written profile is encoded");
                }
                let (encoded, rest) = encodings.split_at(length);
                encodings = rest;
                if let Some(writer) = self.snapshot.as_mut() {
                    writer.write_encoded(&user_id, encoded)?;
                }
            }
            let from = before.map_or("(none)", |entry| entry.layer.as_str());
            if from != layer {
                *counts.transitions.entry((from, to)).or_default() += 1;
                if self.options.transitions_file.is_some() {
                    scored.transition_rows.push((
                        user_id.clone(),
                        from.to_owned(),
                        layer.to_owned(),
                    ));
                }
            }
            if changed {
                scored.changed += 1;
            }
            let layer = layer.to_owned();
            scored
                .next_state
                .users
                .insert(user_id, UserEntry { fingerprint, layer });
        }
        for (benefit_id, kind, profit) in benefits.iter().flatten() {
            scored.value.add_benefit(benefit_id, *kind, *profit);
        }
        Ok(())
    }

    fn finish(mut self) -> Result<Scored, RecomputeError> {
        if let Some(writer) = self.snapshot {
            writer.finish()?;
        }
        self.counts.into_scored(&mut self.scored);
        Ok(self.scored)
    }
}

/// Users delivered before who have no events now: erased with
/// --delete-missing, otherwise kept as delivered (the service still holds
/// the record).
fn forget_or_erase_gone(
    options: &RecomputeOptions,
    gone: Vec<String>,
    previous: &JobState,
    scored: &mut Scored,
) {
    let mut kept = Vec::new();
    for user_id in gone {
        let entry = &previous.users[user_id.as_str()];
        if options.delete_missing {
            scored.deletes.push(user_id.clone());
            *scored
                .transitions
                .entry((entry.layer.clone(), "(erased)".to_owned()))
                .or_default() += 1;
            if options.transitions_file.is_some() {
                scored
                    .transition_rows
                    .push((user_id, entry.layer.clone(), "(erased)".to_owned()));
            }
        } else {
            kept.push((user_id, entry.clone()));
        }
    }
    scored.next_state.users.extend(kept);
}

/// The rule-based fields of one user.
struct UserRules<'a> {
    stage: strata_core::Stage<'a>,
    value: Option<strata_core::ValueAssessment>,
    loyalty_satisfaction: LoyaltySatisfaction,
    quadrant: Option<strata_core::QuadrantKind>,
}

impl UserRules<'_> {
    fn segment(&self) -> UserSegment {
        UserSegment {
            layer_index: self.stage.layer_index,
            tier: self.value.as_ref().map(|value| value.tier),
            quadrant: self.quadrant,
        }
    }
}

/// A layer, or its churned state, as reports and the state file name it:
/// `growth`, `growth (churned)`.
fn layer_label(stage: &strata_core::Stage<'_>) -> String {
    labels::layer_label(
        stage.layer,
        stage.churned,
        stage.churn_label.unwrap_or_default(),
    )
}
