//! The model card of a run (issue 21): the data window, the users behind
//! each model and each model's holdout figures against its baselines, read
//! from the fitted models' own report, and the predictions switched off and
//! why. It travels in the snapshot header (a bulk load) or on a push plan's
//! last batch, and the server keeps it with the version.

use strata_proto::v1::{ModelCard, ModelQuality, QualityFigure, SwitchedOffPrediction};

use crate::model_file::FittedModels;
use crate::wire::millis_to_timestamp;

fn figure(candidate: &str, baseline: bool, metric: &str, value: f64) -> QualityFigure {
    QualityFigure {
        candidate: candidate.to_owned(),
        baseline,
        metric: metric.to_owned(),
        value,
    }
}

/// The card of `fitted`; `model_version` is set by the server to the
/// version that keeps it.
pub fn model_card(fitted: &FittedModels) -> ModelCard {
    let window = &fitted.window;
    let report = &fitted.report;
    let mut models = Vec::new();
    if let Some((_, log_likelihood)) = &report.bg_nbd {
        models.push(ModelQuality {
            model: "bg_nbd".into(),
            users: window.buyers,
            served: "bg_nbd".into(),
            figures: vec![figure("bg_nbd", false, "log_likelihood", *log_likelihood)],
        });
    }
    if let Some(choice) = &report.propensity_choice {
        let mut figures: Vec<QualityFigure> = choice
            .candidates
            .iter()
            .filter_map(|candidate| {
                let baseline =
                    candidate.kind == strata_models::propensity_choice::CandidateKind::Baseline;
                Some(figure(&candidate.name, baseline, "auc", candidate.auc?))
            })
            .collect();
        figures.push(figure(
            &choice.chosen,
            false,
            "brier",
            choice.calibration.brier_calibrated,
        ));
        figures.push(figure(
            "base_rate",
            true,
            "brier",
            choice.calibration.brier_base_rate,
        ));
        models.push(ModelQuality {
            model: "propensity".into(),
            users: choice.holdout_rows as u64,
            served: choice.chosen.clone(),
            figures,
        });
    }
    if let Some(check) = &report.predictions {
        if let Some(churn) = &check.churn {
            models.push(ModelQuality {
                model: "churn".into(),
                users: churn.holdout_users,
                served: churn.served.clone(),
                figures: churn
                    .candidates
                    .iter()
                    .map(|candidate| {
                        figure(
                            &candidate.name,
                            candidate.baseline,
                            "brier",
                            candidate.brier,
                        )
                    })
                    .collect(),
            });
        }
        if let Some(order) = &check.next_order {
            models.push(ModelQuality {
                model: "next_order".into(),
                users: order.holdout_users,
                served: order.served.clone(),
                figures: vec![
                    figure(
                        crate::churn::BG_NBD,
                        false,
                        "median_error_days",
                        order.model_error_days,
                    ),
                    figure(
                        crate::churn::LAST_ORDER_PLUS_MEDIAN_GAP,
                        true,
                        "median_error_days",
                        order.baseline_error_days,
                    ),
                ],
            });
        }
    }
    if let Some(policy) = &report.offer_policy {
        models.push(ModelQuality {
            model: "offer_policy".into(),
            users: policy.issues_used,
            served: policy.served.clone(),
            figures: policy
                .candidates
                .iter()
                .map(|candidate| {
                    figure(
                        &candidate.policy,
                        !candidate.policy.contains("learn"),
                        "incremental_profit_per_issue",
                        candidate.dr.mean,
                    )
                })
                .collect(),
        });
    }
    let switched_off = report
        .predictions
        .iter()
        .flat_map(|check| &check.switched_off)
        .map(|off| SwitchedOffPrediction {
            prediction: off.prediction.clone(),
            reason: off.reason.clone(),
        })
        .collect();
    ModelCard {
        model_version: String::new(),
        fitted_model_version: fitted.model_version.clone(),
        preset: fitted.preset.clone(),
        strata_version: fitted.strata_version.clone(),
        as_of: Some(millis_to_timestamp(window.as_of_ms)),
        first_event_day: window.first_event_day.clone().unwrap_or_default(),
        last_event_day: window.last_event_day.clone().unwrap_or_default(),
        users: window.users,
        buyers: window.buyers,
        models,
        switched_off,
    }
}
