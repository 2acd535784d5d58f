//! The authorizer attributes a policy is evaluated on.
//!
//! The apiserver evaluates its audit policy on `authorizer.Attributes`: the
//! authenticated user (or none, for a 401), the verb, and what
//! [`crate::request_info`] derives from the request URI. An event keeps
//! exactly what is needed to rebuild them. Two ways in:
//!
//! - [`RequestAttributes::from_event`] borrows from a decoded `Event`;
//! - [`RequestAttributes::from_summary`] borrows from an [`EventSummary`],
//!   read straight from the event's JSON bytes without decoding bodies —
//!   the fast path for ingest and for simulating a policy over large logs.

use std::borrow::Cow;

use whodid_model::k8s::{Event, EventSummary};

use crate::request_info::{request_info_borrowed, Method, RequestInfo};

/// The user a request was made by, as the policy sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserAttributes<'a> {
    /// The user name (may be empty).
    pub name: Cow<'a, str>,
    /// The user's groups.
    pub groups: Vec<Cow<'a, str>>,
}

/// Everything a policy rule can match on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestAttributes<'a> {
    /// The authenticated user; `None` for unauthenticated (401) requests,
    /// where the event has no user name, uid or groups.
    pub user: Option<UserAttributes<'a>>,
    /// The verb, as recorded in the event.
    pub verb: Cow<'a, str>,
    /// What the request URI says.
    pub info: RequestInfo<'a>,
}

impl<'a> RequestAttributes<'a> {
    /// Builds attributes from their parts: the user (name, uid, groups), the
    /// verb and the request URI.
    pub fn new(
        user_name: Cow<'a, str>,
        user_uid_present: bool,
        groups: Vec<Cow<'a, str>>,
        verb: Cow<'a, str>,
        request_uri: &'a str,
    ) -> Self {
        let user = if user_name.is_empty() && !user_uid_present && groups.is_empty() {
            None
        } else {
            Some(UserAttributes {
                name: user_name,
                groups,
            })
        };
        let info = request_info_borrowed(request_uri, Method::from_verb(&verb));
        RequestAttributes { user, verb, info }
    }

    /// The attributes the apiserver evaluated `event`'s policy on.
    pub fn from_event(event: &'a Event) -> Self {
        RequestAttributes::new(
            Cow::Borrowed(event.user.name()),
            !event.user.uid().is_empty(),
            event
                .user
                .groups()
                .iter()
                .map(|g| Cow::Borrowed(g.as_str()))
                .collect(),
            Cow::Borrowed(event.verb.as_str()),
            &event.request_uri,
        )
    }

    /// The attributes of the event `summary` was read from.
    pub fn from_summary(summary: &'a EventSummary<'_>) -> Self {
        RequestAttributes::new(
            Cow::Borrowed(summary.user.username.as_ref()),
            !summary.user.uid.is_empty(),
            summary
                .user
                .groups
                .iter()
                .map(|g| Cow::Borrowed(g.as_ref()))
                .collect(),
            Cow::Borrowed(summary.verb.as_ref()),
            &summary.request_uri,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_and_full_event_agree() {
        let line = br#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"a","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/x/pods?limit=500\u0026watch=false","verb":"list","user":{"username":"alice","groups":["devs"]},"requestObject":{"big":[1,2,3]}}"#;
        let summary = EventSummary::from_json(line).unwrap();
        let event = whodid_model::k8s::decode_event(line).unwrap();
        let attributes = RequestAttributes::from_summary(&summary);
        assert_eq!(attributes, RequestAttributes::from_event(&event));
        assert_eq!(&*attributes.info.resource, "pods");
    }

    #[test]
    fn no_user_means_unauthenticated() {
        let line = br#"{"level":"Metadata","auditID":"a","stage":"ResponseStarted","requestURI":"/api","verb":"get","user":{}}"#;
        let summary = EventSummary::from_json(line).unwrap();
        assert!(RequestAttributes::from_summary(&summary).user.is_none());
    }
}
