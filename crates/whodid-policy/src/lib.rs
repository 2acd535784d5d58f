//! The kube-apiserver audit policy engine.
//!
//! whodid needs the apiserver's exact audit decision — to filter and downgrade
//! events at ingest — and operators need to try a policy on real traffic
//! before rolling it out. This crate does both, with the semantics of
//! `k8s.io/apiserver/pkg/audit/policy`:
//!
//! - [`load`]: YAML/JSON text → `Policy`, with strict decoding warnings and
//!   errors that name the file, line, rule index and field;
//! - [`validate`]: the apiserver's validation rules;
//! - [`request_info`] and [`attributes`]: the authorizer attributes the
//!   apiserver evaluates a policy on, rebuilt from an event's `requestURI`;
//! - [`evaluate`]: first matching rule wins → level, omitStages, omitManagedFields;
//! - [`apply`]: what an event looks like once a decision is applied;
//! - [`lint`]: mistakes the apiserver accepts but operators regret;
//! - [`simulate`]: what a policy keeps, costs and loses over a captured log.
//!
//! **Invariant:** no IO. Callers hand in text and events; results are values.
#![warn(missing_docs)]

pub mod apply;
pub mod attributes;
pub mod evaluate;
pub mod lint;
pub mod load;
pub mod request_info;
pub mod simulate;
mod stage_set;
pub mod validate;
mod yaml_tree;

pub use yaml_tree::Position;
