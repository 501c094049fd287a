//! The query engine's back half: plan -> SQL through a [`Dialect`] -> rows -> response.

pub mod dialect;
pub mod extra;
pub mod imports;
pub mod money;
pub mod names;
pub mod run;
pub mod sql;

pub use dialect::{Dialect, DuckDb};
pub use run::{execute, Cell, Runner};
pub use sql::{Param, Table};
