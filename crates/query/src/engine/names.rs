//! Place-name dimensions (`visit:country_name`, `visit:region_name`, `visit:city_name`): the store keeps
//! codes; names come from the embedded ISO 3166 / GeoNames tables. Filters on names become filters on the
//! codes whose names match, among the codes present in the site's data.

use crate::ast::{wildcard_to_regex, Clause, Dimension, Filter, Op};
use serde_json::{json, Value};

/// The code dimension behind a name dimension.
pub fn code_dimension(dim: &Dimension) -> Option<Dimension> {
    Some(match dim {
        Dimension::CountryName => Dimension::Country,
        Dimension::RegionName => Dimension::Region,
        Dimension::CityName => Dimension::City,
        _ => return None,
    })
}

/// The display name of a code value (`""` when unknown).
pub fn name_of(dim: &Dimension, code: &Value) -> Value {
    let name = match dim {
        Dimension::CountryName => code.as_str().and_then(tally_enrich::country_name),
        Dimension::RegionName => code.as_str().and_then(tally_enrich::region_name),
        Dimension::CityName => {
            code.as_u64().or_else(|| code.as_f64().map(|f| f as u64)).and_then(|id| tally_enrich::city_name(id as u32))
        }
        _ => None,
    };
    json!(name.unwrap_or(""))
}

/// Whether a name satisfies the positive form of a simple filter.
fn matches(op: Op, clauses: &[Clause], case_sensitive: bool, name: &str) -> bool {
    let norm = |s: &str| if case_sensitive { s.to_string() } else { s.to_lowercase() };
    let n = norm(name);
    clauses.iter().any(|c| {
        let c = c.as_text();
        match op {
            Op::Is | Op::IsNot => n == norm(&c),
            Op::Contains | Op::ContainsNot => n.contains(&norm(&c)),
            Op::Matches | Op::MatchesNot => regex::Regex::new(&c).is_ok_and(|r| r.is_match(name)),
            Op::MatchesWildcard | Op::MatchesWildcardNot => {
                regex::Regex::new(&wildcard_to_regex(&c)).is_ok_and(|r| r.is_match(name))
            }
        }
    })
}

/// Rewrites name filters into code filters. `codes(dim)` lists the code values present for a code dimension.
pub fn rewrite(f: &Filter, codes: &mut dyn FnMut(&Dimension) -> Vec<Value>) -> Filter {
    match f {
        Filter::Simple { op, dim, clauses, case_sensitive, modifiers } => match code_dimension(dim) {
            Some(code_dim) => {
                let selected: Vec<Clause> = codes(&code_dim)
                    .into_iter()
                    .filter(|c| {
                        let name = name_of(dim, c);
                        matches(*op, clauses, *case_sensitive, name.as_str().unwrap_or_default())
                    })
                    .map(|c| match c {
                        Value::Number(n) => Clause::Int(n.as_i64().unwrap_or(0)),
                        other => Clause::Str(other.as_str().unwrap_or_default().to_string()),
                    })
                    .collect();
                let positive = if selected.is_empty() {
                    Filter::Or(vec![])
                } else {
                    Filter::Simple {
                        op: Op::Is,
                        dim: code_dim,
                        clauses: selected,
                        case_sensitive: true,
                        modifiers: modifiers.clone(),
                    }
                };
                if op.is_negated() {
                    Filter::Not(Box::new(positive))
                } else {
                    positive
                }
            }
            None => f.clone(),
        },
        Filter::And(c) => Filter::And(c.iter().map(|x| rewrite(x, codes)).collect()),
        Filter::Or(c) => Filter::Or(c.iter().map(|x| rewrite(x, codes)).collect()),
        Filter::Not(c) => Filter::Not(Box::new(rewrite(c, codes))),
        Filter::HasDone(c) => Filter::HasDone(Box::new(rewrite(c, codes))),
        Filter::HasNotDone(c) => Filter::HasNotDone(Box::new(rewrite(c, codes))),
    }
}

/// True if any filter uses a name dimension.
pub fn uses_names(filters: &[Filter]) -> bool {
    filters.iter().any(|f| f.leaves().iter().any(|l| l.dimension().is_some_and(|d| code_dimension(d).is_some())))
}
