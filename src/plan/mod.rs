//! Pure decisions. Nothing here reads a clock, the network or the environment: `now` and every
//! observation come in as arguments, so each rule is tested with plain unit and property tests.

pub mod arns;
pub mod awsbackup;
pub mod backup;
pub mod children;
pub mod conditions;
pub mod copyback;
pub mod drill;
pub mod lease;
pub mod names;
pub mod policy;
pub mod reasons;
pub mod restore;
pub mod retention;
pub mod rollout;
pub mod schedule;
pub mod selector;
pub mod tables;
pub mod tenancy;
pub mod validate;
pub mod verify;
pub mod when;
