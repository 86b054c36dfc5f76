//! Deliveries: attempts (`attempt`), how their outcomes are recorded (`record`: compare-and-set,
//! retries, dead letters), per-destination isolation and parking (`lanes`), and built
//! connectors kept across attempts (`connectors`).

pub mod attempt;
pub mod connectors;
pub mod lanes;
pub mod record;
