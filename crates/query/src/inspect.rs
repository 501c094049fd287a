//! Elixir `inspect/2` rendering (with `charlists: :as_lists`), as embedded in Plausible's
//! error messages.
//!
//! Raw request values are decoded JSON (strings, integers, floats, `nil`, booleans, lists and
//! maps with string keys); parsed values additionally use atoms (`:events`), tuples
//! (`{:events, :desc}`) and maps with atom keys (`%{case_sensitive: false}`).

use serde_json::Value;

/// Default `inspect` limit on the number of container items shown.
const LIMIT: usize = 50;
/// Default `inspect` limit on the number of bytes of a string shown.
const PRINTABLE_LIMIT: usize = 4096;

/// An Elixir term, as far as the query messages need them.
#[derive(Debug, Clone, PartialEq)]
pub enum Term {
    Nil,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    Atom(String),
    List(Vec<Term>),
    Tuple(Vec<Term>),
    /// A map; rendered with its keys in Erlang term order.
    Map(Vec<(Term, Term)>),
}

impl Term {
    /// The term Jason would decode from a JSON value.
    pub fn from_json(value: &Value) -> Term {
        match value {
            Value::Null => Term::Nil,
            Value::Bool(b) => Term::Bool(*b),
            Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Term::Int(i as i128)
                } else if let Some(u) = n.as_u64() {
                    Term::Int(u as i128)
                } else {
                    Term::Float(n.as_f64().unwrap_or(0.0))
                }
            }
            Value::String(s) => Term::Str(s.clone()),
            Value::Array(items) => Term::List(items.iter().map(Term::from_json).collect()),
            Value::Object(map) => {
                Term::Map(map.iter().map(|(k, v)| (Term::Str(k.clone()), Term::from_json(v))).collect())
            }
        }
    }

    /// Shorthand for an atom term.
    pub fn atom(name: &str) -> Term {
        Term::Atom(name.to_string())
    }

    /// Shorthand for a string term.
    pub fn str(s: &str) -> Term {
        Term::Str(s.to_string())
    }

    /// Renders the term like Elixir's `inspect(term, charlists: :as_lists)`.
    pub fn inspect(&self) -> String {
        let mut out = String::new();
        render(self, &mut out);
        out
    }
}

/// `inspect` of a decoded JSON value.
pub fn inspect_json(value: &Value) -> String {
    Term::from_json(value).inspect()
}

/// `inspect` of a string.
pub fn inspect_str(s: &str) -> String {
    Term::str(s).inspect()
}

fn render(term: &Term, out: &mut String) {
    match term {
        Term::Nil => out.push_str("nil"),
        Term::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Term::Int(i) => out.push_str(&i.to_string()),
        Term::Float(f) => out.push_str(&format_float(*f)),
        Term::Str(s) => render_string(s, out),
        Term::Atom(a) => {
            out.push(':');
            out.push_str(a);
        }
        Term::List(items) => {
            out.push('[');
            render_items(items.iter(), items.len(), out, render);
            out.push(']');
        }
        Term::Tuple(items) => {
            out.push('{');
            // Tuples are not subject to the item limit in practice for our 2-tuples.
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                render(item, out);
            }
            out.push('}');
        }
        Term::Map(entries) => {
            let mut sorted: Vec<&(Term, Term)> = entries.iter().collect();
            sorted.sort_by(|a, b| term_cmp(&a.0, &b.0));
            let atom_keys = sorted.iter().all(|(k, _)| matches!(k, Term::Atom(_)));
            out.push_str("%{");
            render_items(sorted.into_iter(), entries.len(), out, |(k, v), out| {
                if atom_keys {
                    if let Term::Atom(a) = k {
                        out.push_str(a);
                        out.push_str(": ");
                    }
                } else {
                    render(k, out);
                    out.push_str(" => ");
                }
                render(v, out);
            });
            out.push('}');
        }
    }
}

fn render_items<'a, T: 'a>(items: impl Iterator<Item = T>, len: usize, out: &mut String, f: impl Fn(T, &mut String)) {
    for (i, item) in items.enumerate() {
        if i >= LIMIT {
            break;
        }
        if i > 0 {
            out.push_str(", ");
        }
        f(item, out);
    }
    if len > LIMIT {
        out.push_str(", ...");
    }
}

/// Erlang term order for the map keys we can meet (numbers < atoms < binaries).
fn term_cmp(a: &Term, b: &Term) -> std::cmp::Ordering {
    fn rank(t: &Term) -> u8 {
        match t {
            Term::Int(_) | Term::Float(_) => 0,
            Term::Atom(_) | Term::Nil | Term::Bool(_) => 1,
            Term::Tuple(_) => 2,
            Term::Map(_) => 3,
            Term::List(_) => 4,
            Term::Str(_) => 5,
        }
    }
    match (a, b) {
        (Term::Str(x), Term::Str(y)) => x.as_bytes().cmp(y.as_bytes()),
        (Term::Atom(x), Term::Atom(y)) => x.cmp(y),
        (Term::Int(x), Term::Int(y)) => x.cmp(y),
        _ => rank(a).cmp(&rank(b)),
    }
}

fn is_printable(c: char) -> bool {
    let cp = c as u32;
    matches!(cp, 0x20..=0x7E | 0xA0..=0xD7FF | 0xE000..=0xFFFD | 0x10000..=0x10FFFF)
        || matches!(c, '\n' | '\r' | '\t' | '\u{0B}' | '\u{08}' | '\u{0C}' | '\u{1B}' | '\u{7F}' | '\u{07}')
}

fn render_string(s: &str, out: &mut String) {
    if !s.chars().all(is_printable) {
        // Elixir shows non-printable binaries as a list of bytes.
        out.push_str("<<");
        let bytes = s.as_bytes();
        for (i, b) in bytes.iter().enumerate() {
            if i >= LIMIT {
                out.push_str(", ...");
                break;
            }
            if i > 0 {
                out.push_str(", ");
            }
            out.push_str(&b.to_string());
        }
        out.push_str(">>");
        return;
    }
    let (shown, truncated) = if s.len() > PRINTABLE_LIMIT {
        let mut end = PRINTABLE_LIMIT;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        (&s[..end], true)
    } else {
        (s, false)
    };
    out.push('"');
    let mut chars = shown.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{0B}' => out.push_str("\\v"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0C}' => out.push_str("\\f"),
            '\u{1B}' => out.push_str("\\e"),
            '\u{7F}' => out.push_str("\\d"),
            '\u{07}' => out.push_str("\\a"),
            '#' if chars.peek() == Some(&'{') => out.push_str("\\#"),
            c => out.push(c),
        }
    }
    out.push('"');
    if truncated {
        out.push_str(" <> ...");
    }
}

/// Erlang's shortest round-trip float formatting (`float_to_binary(F, [short])`), as used by
/// Elixir's `inspect`: the shortest digits, in fixed notation unless scientific is shorter.
pub fn format_float(f: f64) -> String {
    if f == 0.0 {
        return if f.is_sign_negative() { "-0.0".into() } else { "0.0".into() };
    }
    if !f.is_finite() {
        return f.to_string();
    }
    // Rust's `{:e}` gives the shortest round-trip digits, e.g. "1.25e1".
    let sci = format!("{:e}", f.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    let n = digits.len() as i32;
    let sign = if f < 0.0 { "-" } else { "" };

    // Fixed notation.
    let place = exp + 1; // position of the decimal point relative to the digits
    let fixed = if place <= 0 {
        format!("0.{}{}", "0".repeat((-place) as usize), digits)
    } else if place < n {
        format!("{}.{}", &digits[..place as usize], &digits[place as usize..])
    } else {
        format!("{}{}.0", digits, "0".repeat((place - n) as usize))
    };
    // Scientific notation.
    let scientific =
        if n == 1 { format!("{}.0e{}", digits, exp) } else { format!("{}.{}e{}", &digits[..1], &digits[1..], exp) };
    if fixed.len() <= scientific.len() {
        format!("{sign}{fixed}")
    } else {
        format!("{sign}{scientific}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_json_values() {
        assert_eq!(inspect_json(&json!(["is", "visit:os_version", [123]])), r#"["is", "visit:os_version", [123]]"#);
        assert_eq!(
            inspect_json(&json!(["matches", "event:hostname", ["a"], {"case_sensitive": false}])),
            r#"["matches", "event:hostname", ["a"], %{"case_sensitive" => false}]"#
        );
        assert_eq!(inspect_json(&json!(null)), "nil");
        assert_eq!(inspect_json(&json!("a\"b\\c#{x}")), r#""a\"b\\c\#{x}""#);
        assert_eq!(inspect_json(&json!({"b": 1, "a": 2})), r#"%{"a" => 2, "b" => 1}"#);
        assert_eq!(inspect_json(&json!("a\u{0}b")), "<<97, 0, 98>>");
    }

    #[test]
    fn renders_parsed_terms() {
        let t = Term::Tuple(vec![Term::atom("events"), Term::atom("desc")]);
        assert_eq!(t.inspect(), "{:events, :desc}");
        let m = Term::Map(vec![(Term::atom("case_sensitive"), Term::Bool(false))]);
        assert_eq!(m.inspect(), "%{case_sensitive: false}");
    }

    #[test]
    fn formats_floats_like_erlang() {
        assert_eq!(format_float(1.0), "1.0");
        assert_eq!(format_float(12.5), "12.5");
        assert_eq!(format_float(100.0), "100.0");
        assert_eq!(format_float(1000.0), "1.0e3");
        assert_eq!(format_float(0.001), "0.001");
        assert_eq!(format_float(0.00001), "1.0e-5");
        assert_eq!(format_float(-2.5), "-2.5");
    }

    #[test]
    fn truncates_long_lists() {
        let v: Vec<i64> = (1..=60).collect();
        let s = inspect_json(&json!(v));
        assert!(s.ends_with("49, 50, ...]"), "{s}");
    }
}
