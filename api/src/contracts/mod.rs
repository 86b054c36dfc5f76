//! Data contracts: the compatibility engine and (with the ingestion issue) the registry service.

pub mod compat;
pub mod schema;
