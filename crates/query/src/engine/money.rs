//! Revenue objects: `{"value", "currency", "short", "long"}` with localised money strings.

use serde_json::{json, Value};

fn symbol(currency: &str) -> Option<&'static str> {
    Some(match currency {
        "USD" => "$",
        "EUR" => "€",
        "GBP" => "£",
        "JPY" => "¥",
        "CNY" => "¥",
        "INR" => "₹",
        "BRL" => "R$",
        "CAD" => "CA$",
        "AUD" => "A$",
        "KRW" => "₩",
        "MXN" => "MX$",
        "ILS" => "₪",
        "VND" => "₫",
        "NZD" => "NZ$",
        "HKD" => "HK$",
        "TWD" => "NT$",
        "PHP" => "₱",
        _ => return None,
    })
}

fn group_thousands(int: u128) -> String {
    let s = int.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn with_symbol(currency: &str, negative: bool, body: String) -> String {
    let sign = if negative { "-" } else { "" };
    match symbol(currency) {
        Some(s) => format!("{sign}{s}{body}"),
        None => format!("{sign}{currency} {body}"),
    }
}

/// `$96,336,315.00`
pub fn long(value: f64, currency: &str) -> String {
    let cents = (value.abs() * 100.0).round() as u128;
    with_symbol(currency, value < 0.0, format!("{}.{:02}", group_thousands(cents / 100), cents % 100))
}

/// The compact form with exactly one fractional digit, as Plausible renders it (CLDR short currency format
/// with `fractional_digits: 1`): `$96.3M`, `$1.2K`, `$100.3`, `€100.0`. Rounding is half to even on the
/// decimal value (`$50.45` -> `$50.4`), as for Elixir's `Decimal`.
pub fn short(value: f64, currency: &str) -> String {
    // Revenue values carry at most three decimals: in thousandths they are exact integers.
    let milli = (value.abs() * 1000.0).round() as u128;
    let scales: [(u32, &str); 5] = [(0, ""), (3, "K"), (6, "M"), (9, "B"), (12, "T")];
    let mut pick = scales.iter().rposition(|&(e, _)| milli >= 1000 * 10u128.pow(e)).unwrap_or(0);
    loop {
        let (e, suffix) = scales[pick];
        let unit = 100 * 10u128.pow(e); // thousandths per tenth of the scaled number
        let (mut tenths, rest) = (milli / unit, milli % unit);
        if 2 * rest > unit || (2 * rest == unit && tenths % 2 == 1) {
            tenths += 1;
        }
        // Rounding can carry into the next scale (999.96K is $1.0M).
        if tenths >= 10_000 && pick + 1 < scales.len() {
            pick += 1;
            continue;
        }
        let body = format!("{}.{}{suffix}", group_thousands(tenths / 10), tenths % 10);
        return with_symbol(currency, value < 0.0, body);
    }
}

pub fn revenue_object(value: f64, currency: &str) -> Value {
    json!({"value": value, "currency": currency, "short": short(value, currency), "long": long(value, currency)})
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn formats() {
        assert_eq!(long(96336315.0, "USD"), "$96,336,315.00");
        assert_eq!(short(96336315.0, "USD"), "$96.3M");
        assert_eq!(long(10.5, "EUR"), "€10.50");
    }

    #[test]
    fn short_has_one_fractional_digit_rounded_half_to_even() {
        // Values from Plausible's revenue tests.
        assert_eq!(short(100.3, "USD"), "$100.3");
        assert_eq!(short(100.0, "EUR"), "€100.0");
        assert_eq!(short(50.45, "USD"), "$50.4");
        assert_eq!(short(100.9, "USD"), "$100.9");
        assert_eq!(short(67.066, "USD"), "$67.1");
        assert_eq!(short(201.2, "USD"), "$201.2");
        assert_eq!(short(50.55, "USD"), "$50.6");
        assert_eq!(short(0.0, "USD"), "$0.0");
        assert_eq!(short(1234.5, "USD"), "$1.2K");
        assert_eq!(short(1000.0, "USD"), "$1.0K");
        assert_eq!(short(999_960.0, "USD"), "$1.0M");
        assert_eq!(short(999.96, "USD"), "$1.0K");
        assert_eq!(short(12.5, "CHF"), "CHF 12.5");
    }
}
