//! Audit levels and stages: the two closed vocabularies of `audit.k8s.io/v1`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// How much of a request is recorded. Ordered from least to most.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Level {
    /// The request is not recorded.
    None,
    /// Request metadata (user, timestamp, resource, verb) but no bodies.
    Metadata,
    /// Metadata and the request body, but not the response body.
    Request,
    /// Metadata, request body and response body.
    RequestResponse,
}

impl Level {
    /// Every level, least first.
    pub const ALL: [Level; 4] = [
        Level::None,
        Level::Metadata,
        Level::Request,
        Level::RequestResponse,
    ];

    /// The level's name as the apiserver writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::None => "None",
            Level::Metadata => "Metadata",
            Level::Request => "Request",
            Level::RequestResponse => "RequestResponse",
        }
    }

    /// Whether the request body is kept at this level.
    pub fn keeps_request_body(self) -> bool {
        self >= Level::Request
    }

    /// Whether the response body is kept at this level.
    pub fn keeps_response_body(self) -> bool {
        self >= Level::RequestResponse
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A level name the apiserver does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported level {0:?}: supported values: \"None\", \"Metadata\", \"Request\", \"RequestResponse\"")]
pub struct UnknownLevel(pub String);

impl FromStr for Level {
    type Err = UnknownLevel;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Level::ALL
            .into_iter()
            .find(|level| level.as_str() == s)
            .ok_or_else(|| UnknownLevel(s.to_owned()))
    }
}

/// The stage of request handling at which an event was generated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Stage {
    /// As soon as the request is received, before it is handled further.
    RequestReceived,
    /// Once the response headers are sent, before the body (long-running requests only).
    ResponseStarted,
    /// Once the response is complete.
    ResponseComplete,
    /// When a panic occurred while handling the request.
    Panic,
}

impl Stage {
    /// Every stage, in the order they happen.
    pub const ALL: [Stage; 4] = [
        Stage::RequestReceived,
        Stage::ResponseStarted,
        Stage::ResponseComplete,
        Stage::Panic,
    ];

    /// The stage's name as the apiserver writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::RequestReceived => "RequestReceived",
            Stage::ResponseStarted => "ResponseStarted",
            Stage::ResponseComplete => "ResponseComplete",
            Stage::Panic => "Panic",
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stage name the apiserver does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported stage {0:?}: allowed stages are RequestReceived,ResponseStarted,ResponseComplete,Panic")]
pub struct UnknownStage(pub String);

impl FromStr for Stage {
    type Err = UnknownStage;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Stage::ALL
            .into_iter()
            .find(|stage| stage.as_str() == s)
            .ok_or_else(|| UnknownStage(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_reject_typos() {
        for level in Level::ALL {
            assert_eq!(level.as_str().parse::<Level>(), Ok(level));
        }
        for stage in Stage::ALL {
            assert_eq!(stage.as_str().parse::<Stage>(), Ok(stage));
        }
        assert!("Everything".parse::<Level>().is_err());
        assert!("RequestRecieved".parse::<Stage>().is_err());
    }

    #[test]
    fn levels_are_ordered_by_detail() {
        assert!(Level::None < Level::Metadata);
        assert!(Level::Request.keeps_request_body());
        assert!(!Level::Request.keeps_response_body());
        assert!(Level::RequestResponse.keeps_response_body());
    }
}
