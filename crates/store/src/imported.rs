//! Plausible's imported-data tables (daily aggregates from Google Analytics / CSV imports).
//! The column lists are data so the embedded and future ClickHouse stores share one definition.

/// Column kinds of imported tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColKind {
    /// A grouping value (string).
    Text,
    /// A summable count.
    Count,
}

pub struct ImportedTable {
    pub name: &'static str,
    /// Columns besides `site_id`, `import_id` and `date`.
    pub columns: &'static [(&'static str, ColKind)],
}

use ColKind::{Count as C, Text as T};

pub const IMPORTED_TABLES: &[ImportedTable] = &[
    ImportedTable {
        name: "imported_visitors",
        columns: &[("visitors", C), ("pageviews", C), ("bounces", C), ("visits", C), ("visit_duration", C)],
    },
    ImportedTable {
        name: "imported_sources",
        columns: &[
            ("source", T),
            ("referrer", T),
            ("utm_source", T),
            ("utm_medium", T),
            ("utm_campaign", T),
            ("utm_content", T),
            ("utm_term", T),
            ("channel", T),
            ("pageviews", C),
            ("visitors", C),
            ("visits", C),
            ("visit_duration", C),
            ("bounces", C),
        ],
    },
    ImportedTable {
        name: "imported_pages",
        columns: &[
            ("hostname", T),
            ("page", T),
            ("visits", C),
            ("visitors", C),
            ("pageviews", C),
            ("exits", C),
            ("time_on_page", C),
            ("active_visitors", C),
            ("total_time_on_page", C),
            ("total_time_on_page_visits", C),
            ("total_scroll_depth", C),
            ("total_scroll_depth_visits", C),
        ],
    },
    ImportedTable {
        name: "imported_entry_pages",
        columns: &[
            ("entry_page", T),
            ("visitors", C),
            ("entrances", C),
            ("visit_duration", C),
            ("bounces", C),
            ("pageviews", C),
        ],
    },
    ImportedTable {
        name: "imported_exit_pages",
        columns: &[
            ("exit_page", T),
            ("visitors", C),
            ("exits", C),
            ("visit_duration", C),
            ("bounces", C),
            ("pageviews", C),
        ],
    },
    ImportedTable {
        name: "imported_custom_events",
        columns: &[("name", T), ("link_url", T), ("path", T), ("visitors", C), ("events", C)],
    },
    ImportedTable {
        name: "imported_locations",
        columns: &[
            ("country", T),
            ("region", T),
            ("city", C),
            ("visitors", C),
            ("visits", C),
            ("visit_duration", C),
            ("bounces", C),
            ("pageviews", C),
        ],
    },
    ImportedTable {
        name: "imported_devices",
        columns: &[
            ("device", T),
            ("visitors", C),
            ("visits", C),
            ("visit_duration", C),
            ("bounces", C),
            ("pageviews", C),
        ],
    },
    ImportedTable {
        name: "imported_browsers",
        columns: &[
            ("browser", T),
            ("browser_version", T),
            ("visitors", C),
            ("visits", C),
            ("visit_duration", C),
            ("bounces", C),
            ("pageviews", C),
        ],
    },
    ImportedTable {
        name: "imported_operating_systems",
        columns: &[
            ("operating_system", T),
            ("operating_system_version", T),
            ("visitors", C),
            ("visits", C),
            ("visit_duration", C),
            ("bounces", C),
            ("pageviews", C),
        ],
    },
];

pub fn imported_table(name: &str) -> Option<&'static ImportedTable> {
    IMPORTED_TABLES.iter().find(|t| t.name == name)
}

/// One row of an imported table: values in the order of the table's `columns`.
#[derive(Clone, Debug, PartialEq)]
pub struct ImportedRow {
    pub table: &'static ImportedTable,
    pub site_id: u64,
    pub import_id: i64,
    pub date: chrono::NaiveDate,
    pub values: Vec<ImportedValue>,
}

impl PartialEq for ImportedTable {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl std::fmt::Debug for ImportedTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum ImportedValue {
    Text(String),
    Count(i64),
}
