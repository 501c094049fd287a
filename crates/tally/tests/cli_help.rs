//! `tally serve --help` documents every setting next to its own environment variable (a doc comment once
//! slipped onto the wrong field, leaving TALLY_HOURLY_API_LIMIT undocumented).

use std::process::Command;

#[test]
fn serve_help_pairs_each_setting_with_its_description() {
    let out = Command::new(env!("CARGO_BIN_EXE_tally")).args(["serve", "--help"]).output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    // clap prints each option's description before its `[env: …]` / `[default: …]` annotations.
    let section = |var: &str| -> String {
        let end = help.find(&format!("[env: {var}")).unwrap_or_else(|| panic!("{var} missing:\n{help}"));
        let start = help[..end].rfind("\n      --").unwrap_or(0);
        help[start..end].to_string()
    };
    let hourly = section("TALLY_HOURLY_API_LIMIT");
    assert!(hourly.contains("hourly Stats/Sites API request limit"), "{hourly}");
    let duck = section("TALLY_DUCKDB_MEMORY");
    assert!(duck.contains("Memory DuckDB may use"), "{duck}");
    assert!(!duck.contains("hourly"), "{duck}");
}
