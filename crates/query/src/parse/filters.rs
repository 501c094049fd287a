//! Filter parsing (Plausible's `ApiQueryParser.parse_filters`) and saved-segment resolution
//! (`Plausible.Segments.Filters`).
//!
//! Filters are first parsed into [`PFilter`], which can still hold `segment` references; the
//! builder validates on this form and converts it into [`crate::ast::Filter`] at the end.

use serde_json::Value;

use crate::ast::{Clause, Dimension, Filter, Modifiers, Op};
use crate::context::SiteContext;
use crate::inspect::{inspect_json, Term};

/// Maximum number of segment ids in one query.
pub const MAX_SEGMENT_FILTERS: usize = 10;

/// The dimension of a parsed filter leaf.
#[derive(Debug, Clone, PartialEq)]
pub enum FDim {
    Dim(Dimension),
    /// `["is", "segment", [ids]]`
    Segment,
}

impl FDim {
    /// The API name (`"segment"` for segment references).
    pub fn name(&self) -> String {
        match self {
            FDim::Dim(d) => d.name(),
            FDim::Segment => "segment".to_string(),
        }
    }
}

/// A parsed filter node.
#[derive(Debug, Clone, PartialEq)]
pub enum PFilter {
    Leaf { op: Op, dim: FDim, clauses: Vec<Clause>, modifiers: Option<Modifiers> },
    And(Vec<PFilter>),
    Or(Vec<PFilter>),
    Not(Box<PFilter>),
    HasDone(Box<PFilter>),
    HasNotDone(Box<PFilter>),
}

/// A leaf met while traversing, with its context.
pub struct LeafInfo<'a> {
    pub filter: &'a PFilter,
    pub op: Op,
    pub dim: &'a FDim,
    pub clauses: &'a [Clause],
    pub modifiers: Option<&'a Modifiers>,
    /// Number of compound nodes above the leaf (0 = top level).
    pub depth: usize,
    /// Number of `has_done` / `has_not_done` ancestors.
    pub behavioural_depth: usize,
}

impl PFilter {
    /// Depth-first traversal of the leaves (Plausible's `Filters.traverse`).
    pub fn visit<'a>(&'a self, depth: usize, behavioural_depth: usize, f: &mut dyn FnMut(LeafInfo<'a>)) {
        match self {
            PFilter::Leaf { op, dim, clauses, modifiers } => f(LeafInfo {
                filter: self,
                op: *op,
                dim,
                clauses,
                modifiers: modifiers.as_ref(),
                depth,
                behavioural_depth,
            }),
            PFilter::And(children) | PFilter::Or(children) => {
                for c in children {
                    c.visit(depth + 1, behavioural_depth, f);
                }
            }
            PFilter::Not(c) => c.visit(depth + 1, behavioural_depth, f),
            PFilter::HasDone(c) | PFilter::HasNotDone(c) => c.visit(depth + 1, behavioural_depth + 1, f),
        }
    }

    /// The parsed form as an Elixir term (for messages quoting a parsed filter).
    pub fn to_term(&self) -> Term {
        match self {
            PFilter::Leaf { op, dim, clauses, modifiers } => {
                let mut items = vec![
                    Term::atom(op.name()),
                    Term::Str(dim.name()),
                    Term::List(
                        clauses
                            .iter()
                            .map(|c| match c {
                                Clause::Str(s) => Term::Str(s.clone()),
                                Clause::Int(i) => Term::Int(*i as i128),
                            })
                            .collect(),
                    ),
                ];
                if let Some(m) = modifiers {
                    let mut entries = Vec::new();
                    if let Some(cs) = m.case_sensitive {
                        entries.push((Term::atom("case_sensitive"), Term::Bool(cs)));
                    }
                    items.push(Term::Map(entries));
                }
                Term::List(items)
            }
            PFilter::And(c) => {
                Term::List(vec![Term::atom("and"), Term::List(c.iter().map(PFilter::to_term).collect())])
            }
            PFilter::Or(c) => Term::List(vec![Term::atom("or"), Term::List(c.iter().map(PFilter::to_term).collect())]),
            PFilter::Not(c) => Term::List(vec![Term::atom("not"), c.to_term()]),
            PFilter::HasDone(c) => Term::List(vec![Term::atom("has_done"), c.to_term()]),
            PFilter::HasNotDone(c) => Term::List(vec![Term::atom("has_not_done"), c.to_term()]),
        }
    }

    /// Converts into the AST. Fails only if an unresolved segment reference is left.
    pub fn into_ast(self) -> Option<Filter> {
        Some(match self {
            PFilter::Leaf { op, dim: FDim::Dim(dim), clauses, modifiers } => Filter::Simple {
                op,
                dim,
                clauses,
                case_sensitive: modifiers.as_ref().and_then(|m| m.case_sensitive).unwrap_or(true),
                modifiers,
            },
            PFilter::Leaf { dim: FDim::Segment, .. } => return None,
            PFilter::And(c) => Filter::And(c.into_iter().map(PFilter::into_ast).collect::<Option<_>>()?),
            PFilter::Or(c) => Filter::Or(c.into_iter().map(PFilter::into_ast).collect::<Option<_>>()?),
            PFilter::Not(c) => Filter::Not(Box::new(c.into_ast()?)),
            PFilter::HasDone(c) => Filter::HasDone(Box::new(c.into_ast()?)),
            PFilter::HasNotDone(c) => Filter::HasNotDone(Box::new(c.into_ast()?)),
        })
    }
}

fn invalid_filter(filter: &Value) -> String {
    format!("Invalid filter '{}'.", inspect_json(filter))
}

/// Parses a list of filter trees (`parse_filters`). `null` is an empty list.
pub fn parse_filter_list(value: &Value) -> Result<Vec<PFilter>, String> {
    match value {
        Value::Array(items) => items.iter().map(parse_filter).collect(),
        Value::Null => Ok(Vec::new()),
        other => Err(invalid_filter(other)),
    }
}

/// Parses one filter tree (`parse_filter`): operator, then the second element, then the rest.
pub fn parse_filter(filter: &Value) -> Result<PFilter, String> {
    let items = filter.as_array();
    let op_name = items.and_then(|i| i.first()).and_then(Value::as_str);
    let Some(op_name) = op_name
        .filter(|o| Op::from_name(o).is_some() || matches!(*o, "and" | "or" | "not" | "has_done" | "has_not_done"))
    else {
        return Err(format!("Unknown operator for filter '{}'.", inspect_json(filter)));
    };
    let items = items.expect("checked above");

    match op_name {
        "and" | "or" => {
            let Some(children) = items.get(1) else {
                return Err(invalid_filter(filter));
            };
            let children = parse_filter_list(children)?;
            Ok(if op_name == "and" { PFilter::And(children) } else { PFilter::Or(children) })
        }
        "not" | "has_done" | "has_not_done" => {
            let Some(child) = items.get(1) else {
                return Err(invalid_filter(filter));
            };
            let child = Box::new(parse_filter(child)?);
            Ok(match op_name {
                "not" => PFilter::Not(child),
                "has_done" => PFilter::HasDone(child),
                _ => PFilter::HasNotDone(child),
            })
        }
        _ => parse_leaf(Op::from_name(op_name).expect("checked above"), items, filter),
    }
}

fn parse_leaf(op: Op, items: &[Value], filter: &Value) -> Result<PFilter, String> {
    // Dimension.
    let dim_name = items.get(1).and_then(Value::as_str).ok_or_else(|| invalid_filter(filter))?;
    let dim = if dim_name == "segment" {
        FDim::Segment
    } else {
        match Dimension::from_name(dim_name) {
            Some(d) if !d.is_time() => FDim::Dim(d),
            _ => return Err(invalid_filter(filter)),
        }
    };

    // Clauses (`parse_clauses_list`).
    let Some(Value::Array(list)) = items.get(2) else {
        return Err(invalid_filter(filter));
    };
    let all_strings = list.iter().all(Value::is_string);
    let all_integers = list.iter().all(|v| v.as_i64().is_some());
    let op_name = op.name();
    let clauses: Vec<Clause> = match (&dim, all_strings) {
        (FDim::Dim(Dimension::City), false) if all_integers => {
            list.iter().map(|v| Clause::Int(v.as_i64().expect("integer"))).collect()
        }
        (FDim::Dim(Dimension::Country), true) if matches!(op_name, "is" | "is_not") => {
            if list.iter().all(|v| v.as_str().is_some_and(|s| s.chars().count() == 2)) {
                strings(list)
            } else {
                return Err(
                    "Invalid visit:country filter, visit:country needs to be a valid 2-letter country code.".into()
                );
            }
        }
        (FDim::Segment, _) if all_integers => list.iter().map(|v| Clause::Int(v.as_i64().expect("integer"))).collect(),
        (FDim::Dim(_), true) => strings(list),
        _ => return Err(invalid_filter(filter)),
    };

    // Modifiers.
    let modifiers = match items.get(3) {
        None | Some(Value::Null) => None,
        Some(Value::Object(map)) => {
            let mut m = Modifiers::default();
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("case_sensitive", Value::Bool(b)) => m.case_sensitive = Some(*b),
                    _ => return Err(invalid_filter(filter)),
                }
            }
            Some(m)
        }
        Some(_) => return Err(invalid_filter(filter)),
    };

    // Goals can only be matched by display name equality or substring.
    if dim == FDim::Dim(Dimension::Goal) && !matches!(op, Op::Is | Op::Contains) {
        return Err(invalid_filter(filter));
    }

    // Regexes must compile (evaluated as RE2 by the store; the `regex` crate is close enough).
    if matches!(op, Op::Matches | Op::MatchesNot) {
        for c in &clauses {
            if let Clause::Str(pattern) = c {
                if regex::RegexBuilder::new(pattern).size_limit(1 << 20).build().is_err() {
                    return Err(invalid_filter(filter));
                }
            }
        }
    }

    Ok(PFilter::Leaf { op, dim, clauses, modifiers })
}

fn strings(list: &[Value]) -> Vec<Clause> {
    list.iter().map(|v| Clause::Str(v.as_str().unwrap_or_default().to_string())).collect()
}

// --- segments ------------------------------------------------------------------------------------

/// The result of segment resolution.
pub struct ResolvedFilters {
    /// Segments replaced, top-level `and` nodes kept (what Plausible echoes).
    pub unflattened: Vec<PFilter>,
    /// Segments replaced and top-level `and` nodes flattened (what is validated and planned).
    pub flattened: Vec<PFilter>,
}

/// Replaces `["is", "segment", ids]` leaves (outside behavioural filters) by the segments'
/// filters: one id -> `["and", filters]`, several -> `["or", [["and", f1], ["and", f2], ...]]`;
/// then, if any segment was used, flattens top-level `and` nodes.
pub fn resolve_segments(filters: Vec<PFilter>, site: &SiteContext) -> Result<ResolvedFilters, String> {
    let mut ids: Vec<i64> = Vec::new();
    for f in &filters {
        f.visit(0, 0, &mut |leaf| {
            if *leaf.dim == FDim::Segment {
                ids.extend(leaf.clauses.iter().filter_map(|c| match c {
                    Clause::Int(i) => Some(*i),
                    Clause::Str(_) => None,
                }));
            }
        });
    }
    if ids.len() > MAX_SEGMENT_FILTERS {
        return Err(format!(
            "Invalid filters. You can only use up to {MAX_SEGMENT_FILTERS} segment filters in a query."
        ));
    }

    let mut segments: Vec<(i64, Vec<PFilter>)> = Vec::new();
    for id in ids {
        if segments.iter().any(|(i, _)| *i == id) {
            continue;
        }
        let parsed = site
            .segments
            .iter()
            .find(|s| s.id == id)
            .and_then(|s| parse_filter_list(s.segment_data.get("filters").unwrap_or(&Value::Null)).ok())
            .filter(|fs| !fs.iter().any(contains_segment));
        match parsed {
            Some(fs) => segments.push((id, fs)),
            None => return Err("Invalid filters. Some segments don't exist or aren't accessible.".into()),
        }
    }

    let unflattened: Vec<PFilter> = filters.into_iter().map(|f| replace_segments(f, &segments)).collect();
    // Plausible flattens only when segments were resolved; a user's own top-level `and` is
    // otherwise kept (and counts as nesting for the top-level-only checks).
    let flattened = if segments.is_empty() {
        unflattened.clone()
    } else {
        unflattened
            .iter()
            .cloned()
            .flat_map(|f| match f {
                PFilter::And(children) => children,
                other => vec![other],
            })
            .collect()
    };
    Ok(ResolvedFilters { unflattened, flattened })
}

fn contains_segment(f: &PFilter) -> bool {
    let mut found = false;
    f.visit(0, 0, &mut |leaf| found |= *leaf.dim == FDim::Segment);
    found
}

fn replace_segments(filter: PFilter, segments: &[(i64, Vec<PFilter>)]) -> PFilter {
    let lookup = |id: &Clause| -> Vec<PFilter> {
        match id {
            Clause::Int(i) => segments.iter().find(|(s, _)| s == i).map(|(_, f)| f.clone()).unwrap_or_default(),
            Clause::Str(_) => Vec::new(),
        }
    };
    match filter {
        PFilter::Leaf { dim: FDim::Segment, clauses, .. } => {
            if clauses.len() == 1 {
                PFilter::And(lookup(&clauses[0]))
            } else {
                PFilter::Or(clauses.iter().map(|id| PFilter::And(lookup(id))).collect())
            }
        }
        PFilter::And(c) => PFilter::And(c.into_iter().map(|f| replace_segments(f, segments)).collect()),
        PFilter::Or(c) => PFilter::Or(c.into_iter().map(|f| replace_segments(f, segments)).collect()),
        PFilter::Not(c) => PFilter::Not(Box::new(replace_segments(*c, segments))),
        // Behavioural subtrees are not transformed (a segment there fails validation later).
        other => other,
    }
}
