//! `strata offers`: the benefits a user may be offered now (GetOffers),
//! best first, as readable lines or one proto3 JSON object (`--json`).

use clap::{Args, ValueEnum};
use strata_client::ProfileClient;
use strata_proto::v1::{DropRule, OfferContext, OfferVerdict, OffersExplanation, Surface};

use super::client_args::ServerArgs;
use super::get::{benefit_line, currency_decimals, exit_not_found, money};
use super::output::outln;

#[derive(Debug, Args)]
pub struct OffersArgs {
    /// The user.
    #[arg(value_name = "USER")]
    pub user: String,
    /// Where the offer will be shown [default: checkout with --cart, else home].
    #[arg(long, value_enum)]
    pub surface: Option<SurfaceArg>,
    /// The cart's value in the currency's major units, e.g. 49.90 (sent as
    /// 4990 minor units); needs --currency. Required at checkout.
    #[arg(long, value_name = "AMOUNT", requires = "currency")]
    pub cart: Option<String>,
    /// ISO 4217 code of the cart, e.g. EUR. Required at checkout; elsewhere
    /// it keeps only offers in that currency.
    #[arg(long)]
    pub currency: Option<String>,
    /// Judge validity at this time (RFC 3339 or epoch) [default: the server's clock].
    #[arg(long, value_name = "TIME", value_parser = super::parse::parse_time)]
    pub at: Option<i64>,
    /// At most this many offers [default: the server's setting].
    #[arg(long, default_value_t = 0, hide_default_value = true)]
    pub max: u32,
    /// One proto3 JSON object: {"offers": [...], "coldStart": true} (an
    /// unknown user gets the cold-start offers; "globalControlGroup": true
    /// says why a member of the global control group gets none).
    #[arg(long)]
    pub json: bool,
    /// Also show every benefit considered: its estimate, the policy it came
    /// from, and the rule that kept or dropped it (GetOffers' `explain`).
    #[arg(long)]
    pub explain: bool,
    #[command(flatten)]
    pub server: ServerArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SurfaceArg {
    /// The checkout page (needs --cart and --currency).
    Checkout,
    /// The app's home screen.
    #[value(alias = "app-home")]
    Home,
    /// A push notification.
    Push,
}

impl SurfaceArg {
    fn wire(self) -> Surface {
        match self {
            SurfaceArg::Checkout => Surface::Checkout,
            SurfaceArg::Home => Surface::AppHome,
            SurfaceArg::Push => Surface::Push,
        }
    }

    fn name(self) -> &'static str {
        match self {
            SurfaceArg::Checkout => "checkout",
            SurfaceArg::Home => "home",
            SurfaceArg::Push => "push",
        }
    }
}

pub async fn run(args: OffersArgs) -> anyhow::Result<()> {
    let surface = args.surface.unwrap_or(match args.cart {
        Some(_) => SurfaceArg::Checkout,
        None => SurfaceArg::Home,
    });
    let currency = args.currency.clone().unwrap_or_default();
    let cart_value = match &args.cart {
        Some(amount) => Some(minor_units(amount, &currency)?),
        None => None,
    };
    let context = OfferContext {
        surface: surface.wire() as i32,
        cart_value,
        currency: currency.clone(),
        request_time: args.at.map(strata_proto::millis_to_timestamp),
    };
    let connection = args.server.connection()?;
    let answer = async {
        let mut client = ProfileClient::new(connection.connect().await?);
        if args.explain {
            client
                .explain_offers(args.user.clone(), context, args.max)
                .await
        } else {
            client
                .get_offers(args.user.clone(), context, args.max)
                .await
        }
    }
    .await;
    let answer = match answer {
        Ok(answer) => answer,
        Err(error) => return Err(connection.explain(error).await.into()),
    };
    if args.json {
        outln!("{}", strata_client::json::offers(&answer))?;
    } else {
        let mut place = surface.name().to_owned();
        if let Some(cart) = cart_value {
            place.push_str(&format!(", cart {}", money(cart, &currency)));
        }
        let count = answer.offers.len();
        let plural = if count == 1 { "offer" } else { "offers" };
        if answer.cold_start {
            outln!(
                "{}: not found; the cold-start offers ({count} {plural} at {place}):",
                args.user
            )?;
        } else if answer.global_control_group {
            outln!(
                "{}: no offers at {place}: global control group (held out of every offer and \
                 campaign, to measure the programme)",
                args.user
            )?;
        } else {
            outln!("{}: {count} {plural} at {place}, best first", args.user)?;
        }
        for (rank, offer) in answer.offers.iter().enumerate() {
            outln!("  {}", benefit_line(rank + 1, offer))?;
        }
        if let Some(explanation) = &answer.explanation {
            outln!()?;
            explanation_table(explanation, answer.cold_start)?;
            if answer.global_control_group {
                outln!("  none: the user is in the global control group")?;
            }
        }
    }
    if answer.cold_start {
        eprintln!("not found: {}", args.user);
        exit_not_found();
    }
    Ok(())
}

/// The benefits considered, one row each: estimate, origin, verdict, rule.
fn explanation_table(explanation: &OffersExplanation, cold_start: bool) -> anyhow::Result<()> {
    let mut heading = format!("considered: {}", explanation.benefits.len());
    if !explanation.model_version.is_empty() {
        heading.push_str(&format!(", model {}", explanation.model_version));
    }
    if explanation.frequency_capped {
        heading.push_str(", contact cap reached (not applied to offers)");
    }
    outln!("{heading}")?;
    let mut rows = vec![[
        "BENEFIT".to_owned(),
        "ESTIMATE".to_owned(),
        "ORIGIN".to_owned(),
        "VERDICT".to_owned(),
        "DETAIL".to_owned(),
    ]];
    for entry in &explanation.benefits {
        let benefit = entry.benefit.clone().unwrap_or_default();
        let mut estimate = format!(
            "{:.2} {}",
            benefit.expected_incremental_profit, benefit.currency
        );
        if let (Some(low), Some(high)) = (benefit.estimate_low, benefit.estimate_high) {
            estimate.push_str(&format!(" (95% {low:.2} to {high:.2})"));
        }
        let mut origin = if cold_start {
            "cold start".to_owned()
        } else if benefit.policy.is_empty() {
            "(not recorded)".to_owned()
        } else {
            benefit.policy.clone()
        };
        if !benefit.cell.is_empty() {
            origin.push_str(&format!(", cell: {}", benefit.cell));
        }
        if benefit.fairness_required {
            origin.push_str(", fairness required");
        }
        let verdict = match OfferVerdict::try_from(entry.verdict) {
            Ok(verdict) => verdict
                .as_str_name()
                .trim_start_matches("OFFER_VERDICT_")
                .to_ascii_lowercase()
                .replace('_', " "),
            Err(_) => format!("unknown ({})", entry.verdict),
        };
        rows.push([
            benefit.benefit_id,
            estimate,
            origin,
            verdict,
            entry.detail.clone(),
        ]);
    }
    for dropped in &explanation.dropped_by_job {
        let rule = match DropRule::try_from(dropped.rule) {
            Ok(DropRule::Fairness) if dropped.replaced_by.is_empty() => {
                "fairness rule (kind dropped)".to_owned()
            }
            Ok(DropRule::Fairness) => {
                format!("fairness rule (replaced by {})", dropped.replaced_by)
            }
            Ok(DropRule::NotProfitable) => "not profitable (estimate below 0.01)".to_owned(),
            Ok(DropRule::Unspecified) | Err(_) => format!("unknown ({})", dropped.rule),
        };
        rows.push([
            dropped.benefit_id.clone(),
            format!("{:.2}", dropped.expected_incremental_profit),
            "recompute job".to_owned(),
            "dropped".to_owned(),
            format!("dropped by the job: {rule}"),
        ]);
    }
    let mut widths = [0usize; 4];
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    for [benefit, estimate, origin, verdict, detail] in &rows {
        outln!(
            "  {benefit:<w0$}  {estimate:>w1$}  {origin:<w2$}  {verdict:<w3$}  {detail}",
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
            w3 = widths[3]
        )?;
    }
    Ok(())
}

/// `49.90` EUR -> 4990: at most as many decimals as the currency has.
fn minor_units(amount: &str, currency: &str) -> anyhow::Result<i64> {
    let decimals = currency_decimals(currency);
    let invalid = || {
        anyhow::anyhow!(
            "--cart {amount:?} is not an amount in {currency} (digits, and at most {decimals} after the point)"
        )
    };
    let digits = |text: &str| !text.is_empty() && text.bytes().all(|byte| byte.is_ascii_digit());
    let (whole, fraction) = match amount.trim().split_once('.') {
        Some((whole, fraction)) if digits(fraction) => (whole, fraction),
        Some(_) => return Err(invalid()),
        None => (amount.trim(), ""),
    };
    if !digits(whole) {
        return Err(invalid());
    }
    if fraction.len() > decimals as usize {
        return Err(invalid());
    }
    let padded = format!("{fraction:0<width$}", width = decimals as usize);
    let scale = 10i64.pow(decimals);
    let whole: i64 = whole.parse().map_err(|_| invalid())?;
    let part: i64 = if padded.is_empty() {
        0
    } else {
        padded.parse().map_err(|_| invalid())?
    };
    whole
        .checked_mul(scale)
        .and_then(|minor| minor.checked_add(part))
        .ok_or_else(invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cart_amounts_become_minor_units() {
        assert_eq!(minor_units("49.90", "EUR").unwrap(), 4990);
        assert_eq!(minor_units("49.9", "EUR").unwrap(), 4990);
        assert_eq!(minor_units("50", "EUR").unwrap(), 5000);
        assert_eq!(minor_units("500", "JPY").unwrap(), 500);
        assert_eq!(minor_units("1.005", "KWD").unwrap(), 1005);
        for wrong in ["49.905", "-5", "5,00", "", ".5", "1e3", "5.", "500.5"] {
            let currency = if wrong == "500.5" { "JPY" } else { "EUR" };
            assert!(minor_units(wrong, currency).is_err(), "{wrong}");
        }
    }
}
