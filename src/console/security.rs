//! The console's defences: the response headers of every page (a Content-Security-Policy with
//! no inline script, no framing, no sniffing, no caching of HTML), the `Origin` check, and the
//! [`Action`] extractor every state-changing form goes through (session, origin, CSRF token).

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::session::Session;
use super::view::ConsoleError;
use super::{ConsoleSettings, ConsoleState};

/// Scripts and styles only from the console's own files; nothing inline, no frames, forms post
/// only to the console.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'";

/// The headers of every console response; HTML is never cached (pages carry the CSRF token).
pub async fn headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let set = [
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "same-origin"),
        (header::CACHE_CONTROL, "no-store"),
    ];
    for (name, value) in set {
        if !headers.contains_key(&name) {
            headers.insert(name, HeaderValue::from_static(value));
        }
    }
    response
}

/// Whether the request came over https, as the TLS-terminating proxy in front says.
pub fn forwarded_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"))
}

/// Refuses a form post from another origin: the `Origin` header must be the console's own
/// (`Host` with the scheme the proxy reports) or one of `CONSOLE_ALLOWED_ORIGINS`. Browsers send
/// `Origin` with every POST; a request without one is refused.
pub fn check_origin(headers: &HeaderMap, settings: &ConsoleSettings) -> Result<(), ConsoleError> {
    let refused = || ConsoleError::Forbidden("this form was posted from another site".into());
    let origin = headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(refused)?;
    if settings.allowed_origins.iter().any(|o| o == origin) {
        return Ok(());
    }
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(refused)?;
    let scheme = if forwarded_https(headers) {
        "https"
    } else {
        "http"
    };
    if origin == format!("{scheme}://{host}") {
        Ok(())
    } else {
        Err(refused())
    }
}

/// A form with no fields of its own (the CSRF token only).
#[derive(Debug, serde::Deserialize)]
pub struct NoFields {}

/// A state-changing form post: a signed-in session, a same-origin request, the session's CSRF
/// token in `csrf_token`, and the form's other fields. Any check failing is a 403 before the
/// handler runs, so nothing changes.
pub struct Action<T> {
    pub session: Session,
    pub form: T,
}

impl<T: DeserializeOwned> FromRequest<ConsoleState> for Action<T> {
    type Rejection = ConsoleError;

    async fn from_request(request: Request, state: &ConsoleState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = request.into_parts();
        let session = Session::from_request_parts(&mut parts, state).await?;
        check_origin(&parts.headers, &state.settings)?;
        let body = Bytes::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(|e| ConsoleError::BadRequest(e.body_text()))?;
        let mut fields: Map<String, Value> = url::form_urlencoded::parse(&body)
            .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
            .collect();
        let token = fields.remove("csrf_token");
        let token = token.as_ref().and_then(Value::as_str).unwrap_or_default();
        if !same(token, &session.csrf) {
            return Err(ConsoleError::Forbidden(
                "the form's CSRF token is missing or wrong; reload the page and try again".into(),
            ));
        }
        let form = serde_json::from_value(Value::Object(fields))
            .map_err(|e| ConsoleError::BadRequest(format!("the form is incomplete: {e}")))?;
        Ok(Action { session, form })
    }
}

/// Compares two tokens without an early exit on the first differing byte (hashing both first
/// makes the lengths equal).
fn same(a: &str, b: &str) -> bool {
    let (a, b) = (Sha256::digest(a.as_bytes()), Sha256::digest(b.as_bytes()));
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, HeaderValue::from_static(v));
        }
        map
    }

    #[test]
    fn only_the_console_s_own_origin_or_a_listed_one_may_post() {
        let settings = ConsoleSettings {
            allowed_origins: vec!["https://ops.example.com".into()],
            ..ConsoleSettings::default()
        };
        let own = headers(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "http://127.0.0.1:8080"),
        ]);
        assert!(check_origin(&own, &settings).is_ok());
        let proxied = headers(&[
            ("host", "c.example.com"),
            ("origin", "https://c.example.com"),
            ("x-forwarded-proto", "https"),
        ]);
        assert!(check_origin(&proxied, &settings).is_ok());
        let listed = headers(&[("host", "10.0.0.1"), ("origin", "https://ops.example.com")]);
        assert!(check_origin(&listed, &settings).is_ok());
        let other = headers(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "http://evil.example"),
        ]);
        assert!(check_origin(&other, &settings).is_err());
        let none = headers(&[("host", "127.0.0.1:8080")]);
        assert!(check_origin(&none, &settings).is_err());
        assert!(same("abc", "abc") && !same("abc", "abd") && !same("", "abc"));
    }
}
