//! A server's answer to an HTTP upgrade request: the subprotocol, and the
//! request path kept for the owner.

use std::sync::{Arc, OnceLock};

use tungstenite::handshake::server::{Callback, ErrorResponse, Request, Response};
use tungstenite::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};

/// The header naming subprotocols, in requests and responses.
const PROTOCOL_HEADER: &str = "Sec-WebSocket-Protocol";

/// tungstenite's upgrade callback for one connection.
#[derive(Debug)]
pub(crate) struct Upgrade {
    supported: Arc<[String]>,
    headers: Arc<[(String, String)]>,
    path: Arc<OnceLock<String>>,
}

impl Upgrade {
    /// Chooses among `supported` subprotocols and adds `headers` to the
    /// response.
    pub(crate) fn new(supported: Arc<[String]>, headers: Arc<[(String, String)]>) -> Self {
        Self { supported, headers, path: Arc::default() }
    }

    /// Where the request's path lands once the request is read.
    pub(crate) fn path(&self) -> Arc<OnceLock<String>> {
        Arc::clone(&self.path)
    }
}

impl Callback for Upgrade {
    fn on_request(
        self,
        request: &Request,
        mut response: Response,
    ) -> Result<Response, ErrorResponse> {
        let _ = self.path.set(request.uri().path().to_owned());
        add_headers(response.headers_mut(), &self.headers).map_err(|()| bad_request())?;
        match choose_subprotocol(&self.supported, request) {
            Ok(None) => Ok(response),
            Ok(Some(chosen)) => {
                let value = HeaderValue::from_str(chosen).map_err(|_| bad_request())?;
                response.headers_mut().insert(PROTOCOL_HEADER, value);
                Ok(response)
            }
            Err(()) => Err(bad_request()),
        }
    }
}

/// Adds `headers` to `map`; `Err` if a name or value is not valid HTTP.
pub(crate) fn add_headers(map: &mut HeaderMap, headers: &[(String, String)]) -> Result<(), ()> {
    for (name, value) in headers {
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| ())?;
        let value = HeaderValue::from_str(value).map_err(|_| ())?;
        map.append(name, value);
    }
    Ok(())
}

/// Godot's rule: with no list, the client must offer nothing; with one,
/// the client must offer one of it (the first offered that matches wins).
fn choose_subprotocol<'a>(
    supported: &'a [String],
    request: &Request,
) -> Result<Option<&'a str>, ()> {
    let mut offered = request
        .headers()
        .get_all(PROTOCOL_HEADER)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .peekable();
    match (offered.peek(), supported.is_empty()) {
        (None, true) => Ok(None),
        (None, false) | (Some(_), true) => Err(()),
        (Some(_), false) => offered
            .find_map(|name| supported.iter().find(|s| *s == name))
            .map(|s| Some(s.as_str()))
            .ok_or(()),
    }
}

fn bad_request() -> ErrorResponse {
    let mut response = ErrorResponse::new(Some("bad WebSocket upgrade".to_owned()));
    *response.status_mut() = StatusCode::BAD_REQUEST;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(protocols: &[&str]) -> Request {
        let mut builder = Request::builder().uri("/game");
        for protocol in protocols {
            builder = builder.header(PROTOCOL_HEADER, *protocol);
        }
        builder.body(()).expect("valid request")
    }

    fn list(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| (*n).to_owned()).collect()
    }

    #[test]
    fn no_list_and_no_offer_agree() {
        assert_eq!(choose_subprotocol(&[], &request(&[])), Ok(None));
    }

    #[test]
    fn an_offer_must_match_the_list() {
        let supported = list(&["godot", "chat"]);
        assert_eq!(
            choose_subprotocol(&supported, &request(&["x, chat", "godot"])),
            Ok(Some("chat"))
        );
        assert_eq!(choose_subprotocol(&supported, &request(&["other"])), Err(()));
        assert_eq!(choose_subprotocol(&[], &request(&["godot"])), Err(()));
        assert_eq!(choose_subprotocol(&supported, &request(&[])), Err(()));
    }

    #[test]
    fn the_callback_records_the_path_and_answers() {
        let headers: Arc<[(String, String)]> = Arc::new([("X-Server".into(), "volley".into())]);
        let upgrade = Upgrade::new(list(&["godot"]).into(), headers);
        let path = upgrade.path();
        let answered = upgrade.on_request(&request(&["godot"]), Response::new(()));
        assert_eq!(path.get().map(String::as_str), Some("/game"));
        let response = answered.expect("accepted");
        assert_eq!(
            response.headers().get(PROTOCOL_HEADER).map(|v| v.as_bytes()),
            Some(&b"godot"[..])
        );
        let refused = Upgrade::new(Arc::new([]), Arc::new([]))
            .on_request(&request(&["godot"]), Response::new(()));
        assert_eq!(refused.expect_err("refused").status(), StatusCode::BAD_REQUEST);
    }
}
