//! End-to-end tests: the real router on a loopback port against a fresh SQLite file, or a fresh
//! PostgreSQL database when `DATABASE_URL` points at one; the real `switchyard` binary for the
//! command line.

mod alerts;
mod audit;
mod auth;
mod auth_keys;
mod campaign_approval;
mod catalog;
mod cli;
mod cli_edges;
mod connections;
mod contracts;
mod data_visibility;
mod deprecations;
mod durability;
mod execution;
mod fault_run;
mod graphiql;
mod graphql_limits;
mod health;
mod helpers;
mod identity_providers;
mod ingest;
mod instances;
mod introspection;
mod lead_routing;
mod lifecycle_messaging;
mod lineage;
mod migrate;
mod multiprocess;
mod ops;
mod ownership;
mod ownership_cases;
mod policy;
mod primitives;
mod rate_limits;
mod readme_tour;
mod receiver;
mod segment;
mod smoke;
mod smtp;
mod string_limits;
mod suppressions;
mod traces;
mod ui;
mod worker_crash;
