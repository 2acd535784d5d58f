//! The data model of whodid.
//!
//! This crate holds the types every other crate speaks: the Kubernetes
//! `audit.k8s.io/v1` API objects ([`k8s`]) exactly as the kube-apiserver
//! writes them, the stream names of the journal ([`Stream`]), and the
//! normalised [`Envelope`] every record carries.
//!
//! **Invariant:** this crate does no IO and knows nothing of tokio, files or
//! HTTP; it is data and the rules for reading it.
#![warn(missing_docs)]

mod envelope;
pub mod json;
pub mod k8s;
mod stream;

pub use envelope::{Actor, ActorKind, Envelope, Origin, Outcome, ENVELOPE_VERSION};
pub use stream::{Stream, UnknownStream};
