//! Switchyard's control plane: the GraphQL API, authentication, policy, the audit log, the
//! catalog, and the `switchyard` command line. See the README for the tour.
//!
//! A request travels: `http` (request id, limits) → `auth` (JWT → subject) → `graphql` resolver
//! → domain service (`catalog`, `audit`) → `policy` decision → one database transaction holding
//! the change and its audit entry.

pub mod access;
pub mod alerts;
pub mod audit;
pub mod auth;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod connections;
pub mod contracts;
pub mod db;
pub mod deprecations;
pub mod error;
pub mod fsutil;
pub mod governance;
pub mod graphql;
pub mod health;
pub mod http;
pub mod ingest;
pub mod instances;
pub mod lineage;
pub mod metrics;
pub mod policy;
pub mod ratelimit;
pub mod runs;
pub mod server;
pub mod state;
pub mod suppressions;
pub mod telemetry;
pub mod ui;
pub mod visibility;
