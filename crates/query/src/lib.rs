//! Tally's v2 query engine, request side: a `POST /api/v2/query` body is validated and resolved
//! into an [`ast::Query`] by [`parse_query`]; [`ast::Query::echo`] renders the response's
//! `query` object and [`time_labels`] the `meta.time_labels`.

pub mod ast;
pub mod context;
pub mod echo;
pub mod inspect;
pub mod parse;

pub use ast::{time_labels, Query};
pub use context::{Goal, GoalKind, ImportInfo, Segment, SiteContext};
pub use parse::{parse_query, QueryError};
pub mod engine;
pub mod v1;
