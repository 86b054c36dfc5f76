//! Connector tests against local servers that check requests the way the vendors do, the
//! shared conformance suite every HTTP connector passes, the network guard end to end, and
//! the file and postgres connectors against a real folder and a real PostgreSQL.

mod conformance;
mod file;
mod guard;
mod hubspot;
mod policy;
mod postgres;
mod salesforce;
mod slack;
mod support;
mod webhook;
