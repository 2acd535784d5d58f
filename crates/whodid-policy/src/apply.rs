//! (evaluation engineer: in progress)
