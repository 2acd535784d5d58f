//! The Kubernetes `audit.k8s.io/v1` API types, as the kube-apiserver writes
//! and reads them.
//!
//! Field names follow the apiserver's JSON exactly, so that a user who knows
//! the apiserver's output has nothing new to learn. Every object keeps the
//! fields it does not know about in an `extra` map, so decoding and encoding
//! an event reproduces its content (newer apiservers add fields, such as
//! `authenticationMetadata` in 1.36).

mod decode;
mod event;
mod level;
mod log;
mod policy;
pub mod summary;

pub use decode::{decode_event, decode_event_list, DecodeError, API_VERSION};
pub use event::{Event, EventList, ObjectReference, ResponseStatus, UserInfo};
pub use level::{Level, Stage, UnknownLevel, UnknownStage};
pub use log::{detect_shape, read_log, EventLocation, LogError, LogEvent, LogShape};
pub use policy::{GroupResources, Policy, PolicyRule};
pub use summary::EventSummary;
