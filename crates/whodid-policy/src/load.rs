//! (load/lint engineer: in progress)
