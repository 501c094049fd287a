//! Tally enrichment: pure functions plus embedded rule data, no database.
//!
//! * [`ua`]: user-agent parsing with Plausible (Matomo device-detector) naming, bot detection.
//! * [`referrer`]: referrer / source / UTM / click-id attribution (platform.md 3.10).
//! * [`channel`]: acquisition channel classification (platform.md 3.11).
//! * [`geo`]: MaxMind / DB-IP MMDB lookups (platform.md 3.13).
//! * [`names`]: country, region and city display names.
//!
//! Data sources and licences are listed in `crates/enrich/data/README.md`.

pub mod channel;
pub mod geo;
pub mod names;
pub mod referrer;
pub mod ua;

pub use channel::{acquisition_channel, source_category, SourceCategory};
pub use geo::{Geo, GeoDb};
pub use names::{city_name, country_name, region_name};
pub use referrer::{attribution, canonical_source, is_spam_referrer, Attribution};
pub use ua::{device_from_screen_width, is_verification_agent, UaInfo, UaParser};
