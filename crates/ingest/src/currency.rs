//! Revenue currency handling. Tally runs offline, so it has no live exchange rates: an amount is reported
//! in the goal's currency only when it was sent in that currency (Plausible converts with daily rates).

use rust_decimal::Decimal;

/// `amount` in `to`, when it can be known without exchange rates.
pub fn convert(amount: Decimal, from: &str, to: &str) -> Option<Decimal> {
    from.eq_ignore_ascii_case(to).then_some(amount)
}
