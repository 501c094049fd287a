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

/// `$96.3M` (one fractional digit above a thousand, like CLDR's short currency format).
pub fn short(value: f64, currency: &str) -> String {
    let a = value.abs();
    let (scaled, suffix) = if a >= 1e12 {
        (a / 1e12, "T")
    } else if a >= 1e9 {
        (a / 1e9, "B")
    } else if a >= 1e6 {
        (a / 1e6, "M")
    } else if a >= 1e3 {
        (a / 1e3, "K")
    } else {
        return long(value, currency);
    };
    let mut s = format!("{:.1}", (scaled * 10.0).round() / 10.0);
    if s.ends_with(".0") {
        s.truncate(s.len() - 2);
    }
    with_symbol(currency, value < 0.0, format!("{s}{suffix}"))
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
}
