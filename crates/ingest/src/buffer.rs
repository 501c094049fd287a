//! The write buffer: accepted events and session changes wait here and are written in batches.
//!
//! Capacity is counted in events; when the buffer is full, `reserve` waits until a flush frees room, so a
//! burst slows clients down instead of dropping accepted events. A failed write puts the batch back.

use parking_lot::Mutex;
use std::sync::Arc;
use tally_store::{EventRow, EventStore, SessionRow, StoreError, WriteBatch};
use tokio::sync::{Notify, Semaphore};

pub struct Buffer {
    inner: Mutex<WriteBatch>,
    permits: Semaphore,
    flush_lock: tokio::sync::Mutex<()>,
    store: Arc<dyn EventStore>,
    /// Woken when the buffer passes the eager-flush threshold.
    pub wake: Notify,
    eager: usize,
}

impl Buffer {
    pub fn new(store: Arc<dyn EventStore>, capacity: usize) -> Buffer {
        Buffer {
            inner: Mutex::new(WriteBatch::default()),
            permits: Semaphore::new(capacity),
            flush_lock: tokio::sync::Mutex::new(()),
            store,
            wake: Notify::new(),
            eager: (capacity / 4).max(1),
        }
    }

    /// Waits for room for one event.
    pub async fn reserve(&self) {
        if let Ok(p) = self.permits.acquire().await {
            p.forget();
        }
    }

    /// Gives back room reserved for an event that was not pushed.
    pub fn release(&self, n: usize) {
        self.permits.add_permits(n);
    }

    /// Adds an event (whose room was reserved) and the session state it produced.
    pub fn push(&self, event: EventRow, session: Option<SessionRow>) {
        let mut b = self.inner.lock();
        b.events.push(event);
        if let Some(s) = session {
            b.live_sessions.push(s);
        }
        if b.events.len() >= self.eager {
            self.wake.notify_one();
        }
    }

    pub fn finalize(&self, ids: Vec<u64>) {
        if !ids.is_empty() {
            self.inner.lock().finalize.extend(ids);
        }
    }

    pub fn pending(&self) -> usize {
        self.inner.lock().events.len()
    }

    /// Writes everything buffered so far. When this returns Ok, every event pushed before the call is stored.
    pub async fn flush(&self) -> Result<usize, StoreError> {
        let _guard = self.flush_lock.lock().await;
        let batch = std::mem::take(&mut *self.inner.lock());
        if batch.is_empty() {
            return Ok(0);
        }
        let n = batch.events.len();
        let store = self.store.clone();
        let (batch, result) = tokio::task::spawn_blocking(move || {
            let r = store.write(&batch);
            (batch, r)
        })
        .await
        .map_err(|e| StoreError::Db(e.to_string()))?;
        match result {
            Ok(()) => {
                self.permits.add_permits(n);
                Ok(n)
            }
            Err(e) => {
                // Put the batch back in front of whatever arrived meanwhile; it is retried on the next flush.
                let mut b = self.inner.lock();
                let newer = std::mem::replace(&mut *b, batch);
                b.events.extend(newer.events);
                b.live_sessions.extend(newer.live_sessions);
                b.final_sessions.extend(newer.final_sessions);
                b.finalize.extend(newer.finalize);
                Err(e)
            }
        }
    }
}
