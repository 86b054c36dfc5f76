//! Switchyard's persistent data: sea-orm entities, one file per table; the typed form of the
//! JSON documents stored in them (`documents`: template and contract definitions, flow
//! decisions, decision records); run and delivery statuses; the clock that formats stored times;
//! and the pure rules that belong to the data itself (the audit hash chain).
//!
//! This crate never talks to HTTP, policy or the queue; it knows rows, their documents and how
//! to hash them.

pub mod alert;
pub mod approval;
pub mod audience_member;
pub mod audit_checkpoint;
pub mod audit_entry;
pub mod audit_head;
pub mod catalog_item;
pub mod catalog_version;
pub mod chain;
pub mod clock;
pub mod connection;
pub mod contact;
pub mod contract_drift;
pub mod dedupe_key;
pub mod delivery;
pub mod deprecation;
pub mod documents;
pub mod event;
pub mod governance_lease;
pub mod instance;
pub mod notification;
pub mod outbox;
pub mod policy_version;
pub mod retention_setting;
pub mod run;
pub mod status;
pub mod suppression;
pub mod sync_state;
pub mod work_queue;
pub mod write_key;
