//! The kube-apiserver's `RequestInfoFactory`, rebuilt from a request URI.
//!
//! A policy is not evaluated on the event: the apiserver evaluates it on the
//! authorizer attributes it derived from the HTTP request (path, API group,
//! namespace, resource, subresource, name). An audit event only keeps the
//! request URI, so to reach the same decision we derive them again, the way
//! `k8s.io/apiserver/pkg/endpoints/request.RequestInfoFactory` does with
//! `APIPrefixes = {api, apis}` and `GrouplessAPIPrefixes = {api}`:
//!
//! - fewer than three path segments, or an unknown prefix, is a non-resource
//!   request (`/version`, `/api/v1`, `/apis/apps/v1` are discovery, not resources);
//! - `/{prefix}/[{group}/]{version}/[watch|proxy/]…` is a resource request;
//! - `namespaces/{ns}/…` sets the namespace, except `namespaces/{ns}/status|finalize`,
//!   which are subresources of the namespace itself;
//! - a GET without a name is a list or watch, and an exact `metadata.name`
//!   field selector gives it a name.
//!
//! The path is the percent-decoded path, as Go's `url.URL.Path` is.

use std::borrow::Cow;

/// What the apiserver knows about a request from its URI alone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestInfo<'a> {
    /// The decoded path, without the query.
    pub path: Cow<'a, str>,
    /// Whether this is a request for a resource (as opposed to `/version`, `/healthz`, …).
    pub resource_request: bool,
    /// `api` or `apis` for resource requests.
    pub api_prefix: Cow<'a, str>,
    /// The API group; empty for the core group.
    pub api_group: Cow<'a, str>,
    /// The API version.
    pub api_version: Cow<'a, str>,
    /// The namespace; empty for cluster-scoped requests.
    pub namespace: Cow<'a, str>,
    /// The resource.
    pub resource: Cow<'a, str>,
    /// The subresource.
    pub subresource: Cow<'a, str>,
    /// The object name, if the request names one.
    pub name: Cow<'a, str>,
}

/// The HTTP method a verb implies; the apiserver's verb mapping depends on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// GET or HEAD.
    Get,
    /// POST.
    Post,
    /// PUT.
    Put,
    /// PATCH.
    Patch,
    /// DELETE.
    Delete,
    /// Anything else.
    Other,
}

impl Method {
    /// The method that produces `verb` (`list`/`watch` are GETs, `create` a POST, …).
    /// Non-resource verbs are the lower-cased method itself.
    pub fn from_verb(verb: &str) -> Method {
        match verb {
            "get" | "list" | "watch" | "head" => Method::Get,
            "create" | "post" => Method::Post,
            "update" | "put" => Method::Put,
            "patch" => Method::Patch,
            "delete" | "deletecollection" => Method::Delete,
            _ => Method::Other,
        }
    }
}

/// Derives the request info from a request URI (path and query, as the
/// apiserver logs it in `requestURI`) and the method. Borrows from the URI
/// unless the path needs percent-decoding.
pub fn request_info(request_uri: &str, method: Method) -> RequestInfo<'_> {
    let without_fragment = request_uri.split('#').next().unwrap_or(request_uri);
    let (raw_path, query) = match without_fragment.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (without_fragment, None),
    };
    match percent_decode(raw_path, false) {
        Cow::Borrowed(path) => classify(path, query, method),
        Cow::Owned(path) => classify(&path, query, method).into_owned(),
    }
}

/// The same as [`request_info`]; kept as the name of the allocation-free path.
pub fn request_info_borrowed(request_uri: &str, method: Method) -> RequestInfo<'_> {
    request_info(request_uri, method)
}

impl RequestInfo<'_> {
    /// A copy that owns its strings.
    pub fn into_owned(self) -> RequestInfo<'static> {
        let own = |c: Cow<'_, str>| Cow::Owned(c.into_owned());
        RequestInfo {
            path: own(self.path),
            resource_request: self.resource_request,
            api_prefix: own(self.api_prefix),
            api_group: own(self.api_group),
            api_version: own(self.api_version),
            namespace: own(self.namespace),
            resource: own(self.resource),
            subresource: own(self.subresource),
            name: own(self.name),
        }
    }
}

/// `RequestInfoFactory.NewRequestInfo` on a decoded path.
fn classify<'p>(path: &'p str, query: Option<&str>, method: Method) -> RequestInfo<'p> {
    let mut info = RequestInfo {
        path: Cow::Borrowed(path),
        ..RequestInfo::default()
    };
    let trimmed = trim_slashes(path);
    if trimmed.is_empty() {
        return info;
    }
    // The factory looks at no more than the first ten segments.
    let mut buf: [&str; 10] = [""; 10];
    let mut count = 0;
    for part in trimmed.split('/').take(buf.len()) {
        buf[count] = part;
        count += 1;
    }
    let parts = &buf[..count];
    if parts.len() < 3 {
        return info;
    }
    let prefix = parts[0];
    if prefix != "api" && prefix != "apis" {
        return info;
    }
    let mut rest = &parts[1..];
    let mut api_group = "";
    if prefix != "api" {
        // One part (the prefix) is consumed: this asks for four parts in all.
        if rest.len() < 3 {
            return info;
        }
        api_group = rest[0];
        rest = &rest[1..];
    }
    let api_version = rest[0];
    rest = &rest[1..];
    // `/{watch|proxy}/…`: the verb comes from the path (a legacy form).
    let mut verb_via_path = false;
    if rest[0] == "watch" || rest[0] == "proxy" {
        if rest.len() < 2 {
            // The apiserver rejects this request; it is no resource request.
            return info;
        }
        rest = &rest[1..];
        verb_via_path = true;
    }
    let mut namespace = "";
    if rest[0] == "namespaces" && rest.len() > 1 {
        namespace = rest[1];
        // `namespaces/{ns}/status|finalize` are subresources of the namespace.
        if rest.len() > 2 && rest[2] != "status" && rest[2] != "finalize" {
            rest = &rest[2..];
        }
    }
    let mut resource = "";
    let mut name = "";
    let mut subresource = "";
    if rest.len() >= 3 && !verb_via_path {
        subresource = rest[2];
    }
    if rest.len() >= 2 {
        name = rest[1];
    }
    if !rest.is_empty() {
        resource = rest[0];
    }
    info.resource_request = true;
    info.api_prefix = Cow::Borrowed(prefix);
    info.api_group = Cow::Borrowed(api_group);
    info.api_version = Cow::Borrowed(api_version);
    info.namespace = Cow::Borrowed(namespace);
    info.resource = Cow::Borrowed(resource);
    info.subresource = Cow::Borrowed(subresource);
    info.name = Cow::Borrowed(name);
    // A GET without a name is a list or a watch, and may name one object
    // through an exact `metadata.name` field selector.
    if name.is_empty() && method == Method::Get && !verb_via_path {
        if let Some(selected) = query.and_then(field_selector_name) {
            info.name = Cow::Owned(selected);
        }
    }
    info
}

fn trim_slashes(path: &str) -> &str {
    path.trim_matches('/')
}

/// The name an exact `metadata.name` field selector asks for, when the query
/// decodes as `ListOptions` and the name is a valid path segment.
fn field_selector_name(query: &str) -> Option<String> {
    let mut selector = None;
    for pair in query.split('&') {
        if pair.is_empty() {
            continue;
        }
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = percent_decode(key, true);
        let value = percent_decode(value, true);
        // A query that does not decode as ListOptions gives no name at all.
        if !list_option_is_valid(&key, &value) {
            return None;
        }
        if key == "fieldSelector" && selector.is_none() {
            selector = Some(value.into_owned());
        }
    }
    let selector = selector?;
    let name = exact_match(&selector, "metadata.name")?;
    if name.is_empty() || name == "." || name == ".." || name.contains('/') || name.contains('%') {
        return None;
    }
    Some(name)
}

/// Whether one query parameter would decode into `ListOptions` without error.
fn list_option_is_valid(key: &str, value: &str) -> bool {
    match key {
        "limit" | "timeoutSeconds" => value.is_empty() || value.parse::<i64>().is_ok(),
        "watch" | "allowWatchBookmarks" | "sendInitialEvents" => {
            value.is_empty() || parse_go_bool(value).is_some()
        }
        "fieldSelector" => parse_selector_terms(value).is_some(),
        _ => true,
    }
}

fn parse_go_bool(value: &str) -> Option<bool> {
    match value {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// One term of a field selector.
struct SelectorTerm {
    field: String,
    exact: bool,
    value: String,
}

/// Parses a field selector the way `fields.ParseSelector` does: terms split
/// on unescaped commas, operators `!=`, `==`, `=`, backslash escapes in values.
fn parse_selector_terms(selector: &str) -> Option<Vec<SelectorTerm>> {
    let mut terms = Vec::new();
    if selector.is_empty() {
        return Some(terms);
    }
    for raw_term in split_unescaped(selector, ',') {
        let (field, exact, raw_value) = if let Some((field, value)) = raw_term.split_once("!=") {
            (field, false, value)
        } else if let Some((field, value)) = raw_term.split_once("==") {
            (field, true, value)
        } else if let Some((field, value)) = raw_term.split_once('=') {
            (field, true, value)
        } else {
            return None;
        };
        let value = unescape_selector_value(raw_value)?;
        terms.push(SelectorTerm {
            field: field.to_owned(),
            exact,
            value,
        });
    }
    Some(terms)
}

fn split_unescaped(input: &str, separator: char) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut escaped = false;
    for (index, ch) in input.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        if ch == '\\' {
            escaped = true;
        } else if ch == separator {
            pieces.push(&input[start..index]);
            start = index + ch.len_utf8();
        }
    }
    pieces.push(&input[start..]);
    pieces
}

fn unescape_selector_value(value: &str) -> Option<String> {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(ch) = chars.next() {
        if ch == '\\' {
            match chars.next() {
                Some(escaped @ ('\\' | ',' | '=')) => out.push(escaped),
                _ => return None,
            }
        } else if ch == ',' || ch == '=' {
            return None;
        } else {
            out.push(ch);
        }
    }
    Some(out)
}

fn exact_match(selector: &str, field: &str) -> Option<String> {
    parse_selector_terms(selector)?
        .into_iter()
        .find(|term| term.exact && term.field == field)
        .map(|term| term.value)
}

/// Decodes `%XX` escapes (and `+` as a space in query components), keeping
/// invalid escapes as they are.
fn percent_decode(input: &str, plus_is_space: bool) -> Cow<'_, str> {
    if !(input.contains('%') || plus_is_space && input.contains('+')) {
        return Cow::Borrowed(input);
    }
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'%' if index + 2 < bytes.len() => {
                match (hex_value(bytes[index + 1]), hex_value(bytes[index + 2])) {
                    (Some(high), Some(low)) => {
                        out.push(high * 16 + low);
                        index += 3;
                    }
                    _ => {
                        out.push(b'%');
                        index += 1;
                    }
                }
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                index += 1;
            }
            byte => {
                out.push(byte);
                index += 1;
            }
        }
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(uri: &str, verb: &str) -> RequestInfo<'static> {
        let owned: &'static str = Box::leak(uri.to_owned().into_boxed_str());
        let slow = request_info(owned, Method::from_verb(verb));
        let fast = request_info_borrowed(owned, Method::from_verb(verb));
        assert_eq!(slow, fast, "fast and slow paths disagree on {uri}");
        slow
    }

    #[test]
    fn discovery_paths_are_not_resources() {
        for uri in [
            "/",
            "/version",
            "/api",
            "/api/v1",
            "/apis/apps/v1",
            "/apis/apps",
        ] {
            assert!(!info(uri, "get").resource_request, "{uri}");
        }
    }

    #[test]
    fn namespaced_resource_with_subresource() {
        let i = info(
            "/api/v1/namespaces/team-a/pods/web-1/exec?command=ls",
            "create",
        );
        assert!(i.resource_request);
        assert_eq!(
            (&*i.namespace, &*i.resource, &*i.name, &*i.subresource),
            ("team-a", "pods", "web-1", "exec")
        );
    }

    #[test]
    fn namespace_itself_and_its_subresources() {
        let i = info("/api/v1/namespaces/team-a", "get");
        assert_eq!(
            (&*i.namespace, &*i.resource, &*i.name),
            ("team-a", "namespaces", "team-a")
        );
        let i = info("/api/v1/namespaces/team-a/finalize", "update");
        assert_eq!(
            (&*i.namespace, &*i.resource, &*i.name, &*i.subresource),
            ("team-a", "namespaces", "team-a", "finalize")
        );
    }

    #[test]
    fn legacy_watch_path_has_no_subresource() {
        let i = info("/api/v1/watch/namespaces/ns/pods/p1", "watch");
        assert_eq!(
            (&*i.namespace, &*i.resource, &*i.name, &*i.subresource),
            ("ns", "pods", "p1", "")
        );
    }

    #[test]
    fn field_selector_names_a_list() {
        let i = info(
            "/api/v1/namespaces/team-a/configmaps?fieldSelector=metadata.name%3Dapp-config",
            "list",
        );
        assert_eq!(&*i.name, "app-config");
        let i = info(
            "/api/v1/namespaces/team-a/configmaps?fieldSelector=metadata.name%21%3Dx",
            "list",
        );
        assert_eq!(&*i.name, "");
        let i = info(
            "/api/v1/namespaces/team-a/configmaps?fieldSelector=metadata.name%3Dx&limit=abc",
            "list",
        );
        assert_eq!(&*i.name, "", "an undecodable query gives no name");
        let i = info(
            "/api/v1/namespaces/team-a/configmaps?fieldSelector=metadata.name%3Dx",
            "deletecollection",
        );
        assert_eq!(&*i.name, "", "only GETs look at the field selector");
    }

    #[test]
    fn group_version_needs_four_parts() {
        let i = info("/apis/apps/v1/deployments", "list");
        assert!(i.resource_request);
        assert_eq!(
            (&*i.api_group, &*i.api_version, &*i.resource),
            ("apps", "v1", "deployments")
        );
    }

    #[test]
    fn percent_encoded_path_is_decoded() {
        let i = info("/api/v1/namespaces/a%2Db/pods", "list");
        assert_eq!(&*i.namespace, "a-b");
        assert_eq!(&*i.path, "/api/v1/namespaces/a-b/pods");
    }
}
