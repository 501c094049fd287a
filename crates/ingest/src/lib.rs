//! Tally's ingestion room: an HTTP request (or an NDJSON import line) becomes a validated, enriched event,
//! updates its session, and waits in the write buffer for the store.

pub mod buffer;
pub mod client_ip;
pub mod currency;
pub mod import;
pub mod pipeline;
pub mod request;
pub mod salts;
pub mod session;
pub mod visitor;

pub use buffer::Buffer;
pub use pipeline::{Incoming, Ingestor};
