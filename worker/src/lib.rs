//! Delivery mechanics of the `switchyard` binary: the connectors that write to destinations
//! (one file each under `connectors/`), the outbound network guard every connector goes through
//! (`net`), and the retry schedule (`retry`). The API crate's `execution` module decides *what*
//! to deliver (steps, policy, idempotency keys) and runs it on apalis; this crate does the I/O.

pub mod connectors;
pub mod jobs;
pub mod net;
pub mod retry;
