//! GeoIP lookups (platform.md 3.13) over a MaxMind GeoLite2/GeoIP2 City or DB-IP City MMDB file.
//!
//! Two record layouts are understood:
//! * GeoIP2 City (`country.iso_code`, `subdivisions[].iso_code`, `city.geoname_id`);
//! * DB-IP "lite" flat records (`country_code`, `state1`, `state2`, `city` as names), whose
//!   region and city names are mapped to ISO 3166-2 codes and GeoNames ids via [`crate::names`].

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;

use serde::Deserialize;

use crate::names;

/// Location of one IP. Empty strings / 0 mean unknown.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Geo {
    pub country_code: String,
    pub subdivision1_code: String,
    pub subdivision2_code: String,
    pub city_geoname_id: u32,
}

/// An opened MMDB database (memory-mapped from its file, or bytes in memory). `Send + Sync`.
pub struct GeoDb {
    reader: maxminddb::Reader<GeoBytes>,
}

impl std::fmt::Debug for GeoDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeoDb").field("database_type", &self.reader.metadata.database_type).finish()
    }
}

#[derive(Deserialize, Default)]
struct CountryRec<'a> {
    #[serde(borrow, default)]
    iso_code: Option<&'a str>,
}

#[derive(Deserialize, Default)]
struct SubdivisionRec<'a> {
    #[serde(borrow, default)]
    iso_code: Option<&'a str>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum CityField<'a> {
    Map {
        #[serde(default)]
        geoname_id: Option<u32>,
        #[serde(borrow, default)]
        #[allow(dead_code)]
        names: Option<BTreeMap<&'a str, &'a str>>,
    },
    Name(&'a str),
}

#[derive(Deserialize, Default)]
struct Record<'a> {
    #[serde(borrow, default)]
    country: Option<CountryRec<'a>>,
    #[serde(borrow, default)]
    subdivisions: Option<Vec<SubdivisionRec<'a>>>,
    #[serde(borrow, default)]
    city: Option<CityField<'a>>,
    // DB-IP lite flat layout
    #[serde(borrow, default)]
    country_code: Option<&'a str>,
    #[serde(borrow, default)]
    state1: Option<&'a str>,
    #[serde(borrow, default)]
    state2: Option<&'a str>,
}

/// Country codes that mean "unknown" (worldwide, disputed territory, Tor exit node).
const IGNORED_COUNTRIES: &[&str] = &["ZZ", "XX", "T1"];

/// Plausible's static city overrides (district -> city), from `Plausible.Ingestion.CityOverrides`.
const CITY_OVERRIDES: &[(u32, u32)] = &[
    // Austria: Vienna districts, Urfahr -> Linz
    (2_779_467, 2_761_369),
    (2_772_614, 2_761_369),
    (2_773_040, 2_761_369),
    (2_780_851, 2_761_369),
    (2_779_776, 2_761_369),
    (2_762_091, 2_761_369),
    (2_761_393, 2_761_369),
    (2_775_259, 2_761_369),
    (2_782_729, 2_761_369),
    (2_772_484, 2_761_369),
    (2_762_518, 2_772_400),
    // Canada: Toronto
    (8_436_019, 6_167_865),
    (5_950_267, 6_167_865),
    (5_946_235, 6_167_865),
    (6_948_711, 6_167_865),
    (6_091_104, 6_167_865),
    // Czechia: Prague
    (11_951_220, 3_067_696),
    (11_951_218, 3_067_696),
    (11_951_232, 3_067_696),
    (11_951_210, 3_067_696),
    (8_378_772, 3_067_696),
    // Denmark: Copenhagen, Odense, Aarhus
    (11_747_123, 2_618_425),
    (11_746_894, 2_618_425),
    (11_746_825, 2_615_876),
    (11_746_974, 2_615_876),
    (11_746_888, 2_615_876),
    (11_746_746, 2_624_652),
    (11_746_890, 2_624_652),
    // Estonia: Tallinn
    (11_050_530, 588_409),
    (11_053_706, 588_409),
    (11_050_526, 588_409),
    (11_049_594, 588_409),
    (11_050_531, 588_409),
    (11_053_707, 588_409),
    (587_629, 588_409),
    // Germany: Berlin, Munich, Düsseldorf, Köln, Bonn, Frankfurt
    (3_336_297, 2_950_159),
    (2_870_912, 2_950_159),
    (3_336_294, 2_950_159),
    (3_336_295, 2_950_159),
    (8_351_447, 2_867_714),
    (8_351_448, 2_867_714),
    (6_947_276, 2_934_246),
    (6_947_274, 2_934_246),
    (6_947_479, 2_886_242),
    (6_947_481, 2_886_242),
    (2_949_619, 2_946_447),
    (6_946_225, 2_925_533),
    // India: Navi Mumbai -> Mumbai
    (6_619_347, 1_275_339),
    // Mexico: Mexico City
    (11_561_026, 3_530_597),
    (3_517_471, 3_530_597),
    (11_562_596, 3_530_597),
    (9_179_691, 3_530_597),
    (12_266_959, 3_530_597),
    // Netherlands: Amsterdam, The Hague
    (10_173_838, 2_759_794),
    (11_525_047, 2_759_794),
    (6_544_881, 2_759_794),
    (11_525_037, 2_747_373),
    (11_525_042, 2_747_373),
    // Norway: Oslo
    (6_940_981, 3_143_244),
    // Romania: Bucharest
    (11_055_041, 683_506),
    (11_055_040, 683_506),
    (11_055_044, 683_506),
    (11_055_042, 683_506),
    (11_055_043, 683_506),
    (11_055_039, 683_506),
    (6_691_781, 683_506),
    // Slovakia: Bratislava
    (3_343_955, 3_060_972),
    // Sweden: Stockholm
    (2_676_209, 2_673_730),
    // Switzerland: Basel, Zürich
    (11_789_440, 2_661_604),
    (2_659_310, 2_657_896),
    (2_658_007, 2_657_896),
    (6_295_521, 2_657_896),
    (6_295_489, 2_657_896),
    // UK: London
    (6_690_595, 2_643_743),
    (2_643_741, 2_643_743),
    (6_545_251, 2_643_743),
    (6_545_173, 2_643_743),
    (2_634_112, 2_643_743),
    (6_690_589, 2_643_743),
    (2_640_091, 2_643_743),
    (2_647_694, 2_643_743),
];

/// Applies Plausible's city override table.
pub fn override_city(geoname_id: u32) -> u32 {
    CITY_OVERRIDES.iter().find(|(from, _)| *from == geoname_id).map(|(_, to)| *to).unwrap_or(geoname_id)
}

/// The bytes of an MMDB database: a read-only file mapping, or a buffer.
pub enum GeoBytes {
    Mapped(memmap2::Mmap),
    Owned(Vec<u8>),
}

impl AsRef<[u8]> for GeoBytes {
    fn as_ref(&self) -> &[u8] {
        match self {
            GeoBytes::Mapped(m) => m,
            GeoBytes::Owned(v) => v,
        }
    }
}

impl GeoDb {
    /// Opens an MMDB file (GeoLite2/GeoIP2 City, DB-IP City lite, or a country-only database).
    pub fn open(path: &Path) -> std::io::Result<GeoDb> {
        let file = std::fs::File::open(path).map_err(|e| std::io::Error::other(format!("{}: {e}", path.display())))?;
        // Mapped, not read: the database (tens of MB for city-level data) stays in the page cache and only
        // the pages lookups touch count towards the process's memory.
        // SAFETY: the file is opened read-only; Tally never writes it (replacing it needs a restart).
        let map = unsafe { memmap2::Mmap::map(&file) }?;
        let reader = maxminddb::Reader::from_source(GeoBytes::Mapped(map))
            .map_err(|e| std::io::Error::other(format!("{}: {e}", path.display())))?;
        Ok(GeoDb { reader })
    }

    /// Opens an MMDB database from bytes already in memory.
    pub fn from_bytes(bytes: Vec<u8>) -> std::io::Result<GeoDb> {
        let reader = maxminddb::Reader::from_source(GeoBytes::Owned(bytes)).map_err(std::io::Error::other)?;
        Ok(GeoDb { reader })
    }

    /// `database_type` from the MMDB metadata, e.g. "GeoLite2-City".
    pub fn database_type(&self) -> &str {
        &self.reader.metadata.database_type
    }

    /// Looks an IP up. Unknown IPs, lookup errors and the pseudo-countries ZZ/XX/T1 give
    /// an empty [`Geo`].
    pub fn lookup(&self, ip: IpAddr) -> Geo {
        let rec: Record<'_> = match self.reader.lookup::<Record<'_>>(ip) {
            Ok(Some(r)) => r,
            _ => return Geo::default(),
        };
        let country = rec.country.as_ref().and_then(|c| c.iso_code).or(rec.country_code).map(str::trim).unwrap_or("");
        if country.is_empty() || country == "-" || IGNORED_COUNTRIES.contains(&country) {
            return Geo::default();
        }
        let country = country.to_ascii_uppercase();

        let mut geo = Geo { country_code: country.clone(), ..Geo::default() };

        match &rec.subdivisions {
            Some(subs) => {
                let codes: Vec<&str> = subs.iter().map(|s| s.iso_code.unwrap_or("")).collect();
                if let Some(c) = codes.first().filter(|c| !c.is_empty()) {
                    geo.subdivision1_code = format!("{country}-{c}");
                }
                if let Some(c) = codes.get(1).filter(|c| !c.is_empty()) {
                    geo.subdivision2_code = format!("{country}-{c}");
                }
            }
            None => {
                if let Some(code) = rec.state1.and_then(|s| names::region_code_by_name(&country, s)) {
                    geo.subdivision1_code = code.to_string();
                }
                if let Some(code) = rec.state2.and_then(|s| names::region_code_by_name(&country, s)) {
                    geo.subdivision2_code = code.to_string();
                }
            }
        }

        let city = match &rec.city {
            Some(CityField::Map { geoname_id, .. }) => geoname_id.unwrap_or(0),
            Some(CityField::Name(name)) => names::city_id_by_name(&country, name).unwrap_or(0),
            None => 0,
        };
        geo.city_geoname_id = override_city(city);
        geo
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn test_db() -> Option<GeoDb> {
        let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let candidates = [
            manifest.join("../../../shared/conformance/data/GeoLite2-City-Test.mmdb"),
            PathBuf::from("/work/shared/conformance/data/GeoLite2-City-Test.mmdb"),
        ];
        let path = std::env::var_os("TALLY_GEOIP_TEST_DB")
            .map(PathBuf::from)
            .into_iter()
            .chain(candidates)
            .find(|p| p.exists())?;
        Some(GeoDb::open(&path).expect("test db opens"))
    }

    #[test]
    fn geolite2_test_database() {
        let Some(db) = test_db() else {
            eprintln!("GeoLite2-City-Test.mmdb not found; skipping");
            return;
        };
        let gb = db.lookup("2.125.160.216".parse().unwrap());
        assert_eq!(
            gb,
            Geo {
                country_code: "GB".into(),
                subdivision1_code: "GB-ENG".into(),
                subdivision2_code: "GB-WBK".into(),
                city_geoname_id: 2655045,
            }
        );
        assert_eq!(crate::names::city_name(gb.city_geoname_id), Some("Boxford"));

        let us = db.lookup("216.160.83.56".parse().unwrap());
        assert_eq!(us.country_code, "US");
        let jp = db.lookup("2001:218::1".parse().unwrap());
        assert_eq!(jp.country_code, "JP");
        let jp2 = db.lookup("2001:218:1:1:1:1:1:1".parse().unwrap());
        assert_eq!(jp2.country_code, "JP");

        for ip in ["0.0.0.1", "0.0.0.2", "0.0.0.0", "127.0.0.1", "10.0.0.1", "::1", "9.9.9.9"] {
            assert_eq!(db.lookup(ip.parse().unwrap()), Geo::default(), "ip {ip}");
        }
    }

    /// Minimal MMDB writer for a one-node IPv4 tree whose both branches point at one record.
    fn tiny_mmdb(record: &[u8]) -> Vec<u8> {
        fn s(v: &str) -> Vec<u8> {
            assert!(v.len() < 29);
            let mut out = vec![0x40 | v.len() as u8];
            out.extend_from_slice(v.as_bytes());
            out
        }
        let mut db = Vec::new();
        // search tree: node 0, 24-bit records, both = node_count + 16 + data offset 0 = 17
        db.extend_from_slice(&[0, 0, 17, 0, 0, 17]);
        db.extend_from_slice(&[0u8; 16]);
        db.extend_from_slice(record);
        db.extend_from_slice(b"\xAB\xCD\xEFMaxMind.com");
        db.push(0xE0 | 9);
        db.extend(s("binary_format_major_version"));
        db.extend_from_slice(&[0xA1, 2]);
        db.extend(s("binary_format_minor_version"));
        db.extend_from_slice(&[0xA0]);
        db.extend(s("build_epoch"));
        db.extend_from_slice(&[0x00, 0x02]);
        db.extend(s("database_type"));
        db.extend(s("DBIP-City-Lite"));
        db.extend(s("description"));
        db.push(0xE0);
        db.extend(s("ip_version"));
        db.extend_from_slice(&[0xA1, 4]);
        db.extend(s("languages"));
        db.extend_from_slice(&[0x00, 0x04]);
        db.extend(s("node_count"));
        db.extend_from_slice(&[0xC1, 1]);
        db.extend(s("record_size"));
        db.extend_from_slice(&[0xA1, 24]);
        db
    }

    fn flat_record(pairs: &[(&str, &str)]) -> Vec<u8> {
        let mut out = vec![0xE0 | pairs.len() as u8];
        for (k, v) in pairs {
            for x in [k, v] {
                out.push(0x40 | x.len() as u8);
                out.extend_from_slice(x.as_bytes());
            }
        }
        out
    }

    #[test]
    fn dbip_lite_flat_records() {
        let rec = flat_record(&[("city", "San Francisco"), ("country_code", "US"), ("state1", "California")]);
        let db = GeoDb::from_bytes(tiny_mmdb(&rec)).expect("tiny mmdb opens");
        assert_eq!(db.database_type(), "DBIP-City-Lite");
        let g = db.lookup("1.2.3.4".parse().unwrap());
        assert_eq!(g.country_code, "US");
        assert_eq!(g.subdivision1_code, "US-CA");
        assert_eq!(g.subdivision2_code, "");
        assert_eq!(g.city_geoname_id, 5391959);
        assert_eq!(crate::names::city_name(g.city_geoname_id), Some("San Francisco"));

        let rec = flat_record(&[("city", "Tallinn"), ("country_code", "EE"), ("state1", "Harjumaa")]);
        let db = GeoDb::from_bytes(tiny_mmdb(&rec)).unwrap();
        let g = db.lookup("200.1.1.1".parse().unwrap());
        assert_eq!((g.country_code.as_str(), g.subdivision1_code.as_str(), g.city_geoname_id), ("EE", "EE-37", 588409));

        let rec = flat_record(&[("city", "Nowhere"), ("country_code", "ZZ")]);
        let db = GeoDb::from_bytes(tiny_mmdb(&rec)).unwrap();
        assert_eq!(db.lookup("1.1.1.1".parse().unwrap()), Geo::default());
    }

    #[test]
    fn open_errors() {
        assert!(GeoDb::open(Path::new("/nonexistent/file.mmdb")).is_err());
        assert!(GeoDb::from_bytes(b"not an mmdb".to_vec()).is_err());
    }

    #[test]
    fn city_overrides() {
        assert_eq!(override_city(11_050_530), 588_409);
        assert_eq!(override_city(2_643_741), 2_643_743);
        assert_eq!(override_city(588_409), 588_409);
        assert_eq!(override_city(0), 0);
    }

    #[test]
    fn geodb_is_send_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<GeoDb>();
    }
}
