//! Data contracts: the compatibility engine and (with the ingestion issue) the registry service.

pub mod cli;
pub mod compat;
pub mod registry;
pub mod schema;
