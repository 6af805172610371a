//! Money in one currency. The models add amounts up (spend per user, order
//! values, the margin an offer earned), so every amount of a run must be in
//! one currency: the events' own when they all carry the same one, else the
//! `[currency] base`, with each other currency converted at its rate as the
//! events are read. A run whose amounts cannot be put in one currency is
//! refused with the currencies named, never summed as if they were one.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;

use crate::Event;
use crate::history::WALLET_SHARE;

/// `[currency]` in the recompute's config.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CurrencyConfig {
    /// The currency amounts are summed and values served in; unset: the
    /// events' own (which must then be a single one).
    pub base: Option<String>,
    /// Units of `base` that one unit of each other currency is worth, e.g.
    /// `{ EUR = 1.08 }` with `base = "USD"`.
    pub rates: BTreeMap<String, f64>,
}

impl CurrencyConfig {
    /// Checks the codes and rates, naming the key that is wrong.
    pub fn validate(&self) -> Result<(), CurrencyError> {
        if let Some(base) = &self.base
            && !is_currency_code(base)
        {
            return Err(CurrencyError::Config {
                key: "currency.base".into(),
                reason: format!("{base:?} is not an ISO 4217 code (three capital letters)"),
            });
        }
        if !self.rates.is_empty() && self.base.is_none() {
            return Err(CurrencyError::Config {
                key: "currency.rates".into(),
                reason: "rates need currency.base, the currency they convert to".into(),
            });
        }
        for (code, rate) in &self.rates {
            let key = format!("currency.rates.{code}");
            if !is_currency_code(code) {
                return Err(CurrencyError::Config {
                    key,
                    reason: "not an ISO 4217 code (three capital letters)".into(),
                });
            }
            if !(rate.is_finite() && *rate > 0.0) {
                return Err(CurrencyError::Config {
                    key,
                    reason: format!("{rate} is not a positive number"),
                });
            }
        }
        Ok(())
    }
}

/// Three ASCII capital letters, the shape of an ISO 4217 code.
pub fn is_currency_code(code: &str) -> bool {
    code.len() == 3 && code.bytes().all(|byte| byte.is_ascii_uppercase())
}

/// Puts amounts in the base currency as events are read, and counts the
/// currencies it saw so [`CurrencyTally::settle`] can decide the run's.
#[derive(Debug, Clone)]
pub struct CurrencyTally {
    config: CurrencyConfig,
    /// Amounts seen per currency, as written in the events.
    seen: BTreeMap<String, u64>,
}

impl CurrencyTally {
    pub fn new(config: &CurrencyConfig) -> CurrencyTally {
        CurrencyTally {
            config: config.clone(),
            seen: BTreeMap::new(),
        }
    }

    /// A tally that already saw `seen` (amounts per currency, as written in
    /// the events): a run that reads summaries instead of events settles the
    /// currency exactly as the run that read them would have.
    pub fn with_seen(config: &CurrencyConfig, seen: BTreeMap<String, u64>) -> CurrencyTally {
        CurrencyTally {
            config: config.clone(),
            seen,
        }
    }

    /// Amounts seen per currency, as written in the events.
    pub fn seen(&self) -> &BTreeMap<String, u64> {
        &self.seen
    }

    /// Counts `event`'s currency and converts its amount to the base at the
    /// configured rate. An amount without a currency is taken as the run's;
    /// a wallet share is a fraction, not money, and is left alone.
    pub fn observe(&mut self, event: &mut Event) {
        let (Some(amount), Some(currency)) = (event.amount, event.currency.as_deref()) else {
            return;
        };
        if event.kind == WALLET_SHARE {
            return;
        }
        match self.seen.get_mut(currency) {
            Some(count) => *count += 1,
            None => {
                self.seen.insert(currency.to_owned(), 1);
            }
        }
        let Some(base) = &self.config.base else {
            return;
        };
        if currency == base {
            return;
        }
        // Without a rate the amount stays as it is: `settle` refuses the run.
        if let Some(rate) = self.config.rates.get(currency) {
            event.amount = Some(amount * rate);
            event.currency = Some(base.clone());
        }
    }

    /// Adds the currencies another tally of the same configuration saw
    /// (a parallel read keeps one tally per thread).
    pub fn merge(&mut self, other: CurrencyTally) {
        debug_assert_eq!(self.config, other.config);
        for (code, count) in other.seen {
            *self.seen.entry(code).or_insert(0) += count;
        }
    }

    /// The run's currency: the base when configured (every other currency
    /// seen needs a rate), else the events' single currency, else (no
    /// amount carried a currency) `fallback`.
    pub fn settle(self, fallback: &str) -> Result<RunCurrency, CurrencyError> {
        let CurrencyTally { config, seen } = self;
        let amounts: Vec<(String, u64)> = seen.into_iter().collect();
        if let Some(base) = config.base {
            let missing: Vec<(String, u64)> = amounts
                .iter()
                .filter(|(code, _)| *code != base && !config.rates.contains_key(code))
                .cloned()
                .collect();
            if !missing.is_empty() {
                return Err(CurrencyError::NoRate { base, missing });
            }
            let converted = amounts
                .iter()
                .filter(|(code, _)| *code != base)
                .map(|(code, count)| (code.clone(), config.rates[code], *count))
                .collect();
            return Ok(RunCurrency {
                code: base,
                source: CurrencySource::Base,
                amounts,
                converted,
            });
        }
        match amounts.as_slice() {
            [] => Ok(RunCurrency {
                code: fallback.to_owned(),
                source: CurrencySource::Fallback,
                amounts,
                converted: Vec::new(),
            }),
            [(code, _)] => Ok(RunCurrency {
                code: code.clone(),
                source: CurrencySource::Events,
                amounts,
                converted: Vec::new(),
            }),
            _ => Err(CurrencyError::Mixed { amounts }),
        }
    }
}

/// The one currency a run's amounts and values are in, and how it was found.
#[derive(Debug, Clone, PartialEq)]
pub struct RunCurrency {
    pub code: String,
    pub source: CurrencySource,
    /// Amounts read per currency, as written in the events.
    pub amounts: Vec<(String, u64)>,
    /// Currencies converted to `code`: (currency, rate, amounts).
    pub converted: Vec<(String, f64, u64)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CurrencySource {
    /// The events' own, a single currency.
    Events,
    /// `[currency] base`.
    Base,
    /// No amount named its currency: the caller's default.
    Fallback,
}

impl fmt::Display for RunCurrency {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        let code = &self.code;
        match self.source {
            CurrencySource::Events => write!(out, "amounts in {code}, as the events give them"),
            CurrencySource::Fallback => write!(
                out,
                "no event names its currency: amounts taken as {code} (set [currency] base to name it)"
            ),
            CurrencySource::Base if self.converted.is_empty() => {
                write!(out, "amounts in {code} ([currency] base)")
            }
            CurrencySource::Base => {
                write!(out, "amounts in {code} ([currency] base); converted:")?;
                for (currency, rate, count) in &self.converted {
                    write!(out, " {count} in {currency} at {rate} {code}/{currency};")?;
                }
                Ok(())
            }
        }
    }
}

/// A currency setting or a run's amounts that cannot be put in one currency.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CurrencyError {
    #[error("config key {key}: {reason}")]
    Config { key: String, reason: String },
    #[error("{}", mixed(.amounts))]
    Mixed { amounts: Vec<(String, u64)> },
    #[error(
        "the events have amounts in {} but [currency] rates has no rate from them to {base}: \
         add rates = {{ {} }} (units of {base} per unit)",
        list(.missing), rate_template(.missing)
    )]
    NoRate {
        base: String,
        missing: Vec<(String, u64)>,
    },
}

/// Names every currency and suggests the most used one as the base.
fn mixed(amounts: &[(String, u64)]) -> String {
    let base = amounts
        .iter()
        .max_by_key(|(_, count)| *count)
        .map_or("", |(code, _)| code.as_str());
    let others: Vec<(String, u64)> = amounts
        .iter()
        .filter(|(code, _)| code != base)
        .cloned()
        .collect();
    format!(
        "the events' amounts are in {} currencies ({}) and strata adds amounts up in one \
         currency: convert them with [currency] base = \"{base}\" and rates = {{ {} }} in \
         --config (units of the base per unit), or split the log by currency",
        amounts.len(),
        list(amounts),
        rate_template(&others)
    )
}

fn list(amounts: &[(String, u64)]) -> String {
    amounts
        .iter()
        .map(|(code, count)| format!("{code}: {count} amounts"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn rate_template(amounts: &[(String, u64)]) -> String {
    amounts
        .iter()
        .map(|(code, _)| format!("{code} = ..."))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn money(kind: &str, amount: f64, currency: Option<&str>) -> Event {
        let mut event = Event::new("u", 0, kind);
        event.amount = Some(amount);
        event.currency = currency.map(str::to_owned);
        event
    }

    fn config(base: Option<&str>, rates: &[(&str, f64)]) -> CurrencyConfig {
        CurrencyConfig {
            base: base.map(str::to_owned),
            rates: rates
                .iter()
                .map(|(code, rate)| ((*code).to_owned(), *rate))
                .collect(),
        }
    }

    /// Observes `events` under `config`; the converted amounts and the outcome.
    fn run(
        config: &CurrencyConfig,
        events: Vec<Event>,
    ) -> (Vec<f64>, Result<RunCurrency, CurrencyError>) {
        let mut tally = CurrencyTally::new(config);
        let amounts = events
            .into_iter()
            .map(|mut event| {
                tally.observe(&mut event);
                event.amount.unwrap()
            })
            .collect();
        (amounts, tally.settle("EUR"))
    }

    #[test]
    fn one_currency_is_the_runs_and_none_falls_back() {
        let (_, usd) = run(
            &CurrencyConfig::default(),
            vec![
                money("purchase", 10.0, Some("USD")),
                money("purchase", 3.0, None),
            ],
        );
        let usd = usd.unwrap();
        assert_eq!(
            (usd.code.as_str(), usd.source),
            ("USD", CurrencySource::Events)
        );
        assert_eq!(usd.amounts, [("USD".to_owned(), 1)]);

        let (_, none) = run(
            &CurrencyConfig::default(),
            vec![money("purchase", 3.0, None)],
        );
        let none = none.unwrap();
        assert_eq!(
            (none.code.as_str(), none.source),
            ("EUR", CurrencySource::Fallback)
        );
        assert!(none.to_string().contains("[currency] base"), "{none}");
    }

    #[test]
    fn mixed_currencies_without_rates_are_refused_with_each_named() {
        let (_, outcome) = run(
            &CurrencyConfig::default(),
            vec![
                money("purchase", 10.0, Some("USD")),
                money("purchase", 10.0, Some("GBP")),
                money("purchase", 10.0, Some("USD")),
            ],
        );
        let message = outcome.unwrap_err().to_string();
        for part in [
            "GBP: 1 amounts",
            "USD: 2 amounts",
            "[currency] base = \"USD\"",
            "rates = { GBP = ... }",
        ] {
            assert!(message.contains(part), "{part} missing from: {message}");
        }
    }

    #[test]
    fn rates_convert_to_the_base_and_a_missing_rate_is_named() {
        let rates = config(Some("USD"), &[("GBP", 1.25)]);
        let (amounts, outcome) = run(
            &rates,
            vec![
                money("purchase", 8.0, Some("GBP")),
                money("purchase", 8.0, Some("USD")),
                money("purchase", 8.0, None),
                // A share of wallet is a fraction, whatever the row says.
                money(WALLET_SHARE, 0.5, Some("GBP")),
            ],
        );
        assert_eq!(amounts, [10.0, 8.0, 8.0, 0.5]);
        let settled = outcome.unwrap();
        assert_eq!(settled.code, "USD");
        assert_eq!(settled.converted, [("GBP".to_owned(), 1.25, 1)]);
        assert!(
            settled.to_string().contains("1 in GBP at 1.25"),
            "{settled}"
        );

        let (_, outcome) = run(
            &rates,
            vec![
                money("purchase", 8.0, Some("JPY")),
                money("purchase", 8.0, Some("GBP")),
            ],
        );
        let message = outcome.unwrap_err().to_string();
        assert!(
            message.contains("JPY: 1 amounts") && message.contains("JPY = ..."),
            "{message}"
        );
        assert!(!message.contains("GBP"), "{message}");
    }

    #[test]
    fn settings_are_checked_with_the_key_named() {
        let check = |config: CurrencyConfig, key: &str| {
            let message = config.validate().unwrap_err().to_string();
            assert!(
                message.starts_with(&format!("config key {key}:")),
                "{message}"
            );
        };
        check(config(Some("usd"), &[]), "currency.base");
        check(config(None, &[("EUR", 1.1)]), "currency.rates");
        check(config(Some("USD"), &[("EUR", 0.0)]), "currency.rates.EUR");
        check(config(Some("USD"), &[("EURO", 1.0)]), "currency.rates.EURO");
        assert_eq!(config(Some("USD"), &[("EUR", 1.08)]).validate(), Ok(()));
    }
}
