//! Workflow health in business terms, read from the counters workers keep as they record runs
//! and attempts (`worker::health`): events matched, runs by status, deliveries succeeded /
//! failed / retried, duplicates suppressed, open dead letters, latency from event accepted to
//! destination acknowledged, last success, freshness against the trigger contract's SLA, and
//! completeness — the share of records that left with every intended field, and which fields
//! were withheld or missing and why.
//!
//! A query sums a few hundred small rows (minute buckets for the last hour, hour buckets for 24 h
//! and 7 d), never the history itself. Windows of 24 h and 7 d start at an hour boundary.

pub mod query;

pub use query::{Health, Window, for_instances};
