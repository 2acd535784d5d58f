//! The kube-apiserver audit policy engine.
#![warn(missing_docs)]
