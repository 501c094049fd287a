//! Daily-rotating salts for visitor ids (platform.md §5.2). Salts live in the config store so a restart
//! does not split visitors; salts older than 48 hours are deleted.

use chrono::{Duration, NaiveDateTime, Utc};
use parking_lot::RwLock;
use rand::RngCore;
use std::sync::Arc;
use tally_store::ConfigStore;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SaltPair {
    pub current: [u8; 16],
    pub previous: Option<[u8; 16]>,
    /// When `current` was created.
    pub created: NaiveDateTime,
}

pub struct Salts {
    config: Arc<dyn ConfigStore>,
    pair: RwLock<SaltPair>,
}

fn fresh() -> [u8; 16] {
    let mut s = [0u8; 16];
    rand::rng().fill_bytes(&mut s);
    s
}

impl Salts {
    /// Loads the two newest salts, creating one if none exists (or the newest is from before today, UTC).
    pub fn load(config: Arc<dyn ConfigStore>) -> anyhow::Result<Salts> {
        let now = Utc::now().naive_utc();
        config.delete_salts_before(now - Duration::hours(48))?;
        let mut salts = config.salts()?;
        if salts.first().is_none_or(|(_, at)| at.date() < now.date()) {
            let s = fresh();
            config.add_salt(s, now)?;
            salts.insert(0, (s, now));
        }
        let pair = SaltPair { current: salts[0].0, previous: salts.get(1).map(|s| s.0), created: salts[0].1 };
        Ok(Salts { config, pair: RwLock::new(pair) })
    }

    pub fn get(&self) -> SaltPair {
        *self.pair.read()
    }

    /// Rotates when the current salt is from an earlier UTC day than `now` (run it periodically).
    pub fn rotate_if_due(&self, now: NaiveDateTime) -> anyhow::Result<bool> {
        if self.pair.read().created.date() >= now.date() {
            return Ok(false);
        }
        let s = fresh();
        self.config.add_salt(s, now)?;
        self.config.delete_salts_before(now - Duration::hours(48))?;
        let mut p = self.pair.write();
        *p = SaltPair { current: s, previous: Some(p.current), created: now };
        Ok(true)
    }
}
