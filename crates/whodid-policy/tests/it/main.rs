//! Integration tests of the policy engine (one test binary to save link time).

mod conformance;
mod fixtures;
mod lint;
mod loading;
