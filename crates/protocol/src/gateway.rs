//! The gateway WebSocket protocol v4 of the reference OpenClaw: frames (`req` / `res` / `event`), the error shape,
//! `connect` parameters, and the constants clients check.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The protocol version this gateway speaks.
pub const PROTOCOL_VERSION: u32 = 4;
/// The oldest protocol a probe or node client may speak.
pub const MIN_PROBE_PROTOCOL_VERSION: u32 = 3;
/// Frames before `hello-ok` may not be larger than this.
pub const PRE_AUTH_MAX_FRAME_BYTES: usize = 64 * 1024;
/// `policy.maxPayload` after `hello-ok`.
pub const MAX_PAYLOAD_BYTES: usize = 26_214_400;
/// `policy.maxBufferedBytes`.
pub const MAX_BUFFERED_BYTES: usize = 52_428_800;

/// A frame from a client. Only requests are valid.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ClientFrame {
    Req(RequestFrame),
}

/// `{"type":"req","id","method","params"}`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RequestFrame {
    pub id: String,
    pub method: String,
    #[serde(default)]
    pub params: Value,
}

/// `{"type":"res","id","ok","payload"|"error"}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResponseFrame {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub id: String,
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorShape>,
}

impl ResponseFrame {
    /// A successful response.
    pub fn ok(id: &str, payload: Value) -> Self {
        ResponseFrame { kind: "res", id: id.to_owned(), ok: true, payload: Some(payload), error: None }
    }

    /// A failed response.
    pub fn error(id: &str, error: ErrorShape) -> Self {
        ResponseFrame { kind: "res", id: id.to_owned(), ok: false, payload: None, error: Some(error) }
    }
}

/// `{"type":"event","event","payload","seq"}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventFrame {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub event: String,
    pub payload: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
}

impl EventFrame {
    /// An event.
    pub fn new(event: &str, payload: Value, seq: Option<u64>) -> Self {
        EventFrame { kind: "event", event: event.to_owned(), payload, seq }
    }
}

/// `{code, message, details?, retryable?, retryAfterMs?}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorShape {
    pub code: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retryable: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
}

impl ErrorShape {
    /// An error with a top-level code (`INVALID_REQUEST`, `FORBIDDEN`, `UNAVAILABLE`, …).
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        ErrorShape {
            code: code.to_owned(),
            message: message.into(),
            details: None,
            retryable: None,
            retry_after_ms: None,
        }
    }

    /// Adds `details`.
    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }
}

/// `connect` parameters (the fields the gateway reads; others are accepted and ignored).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectParams {
    pub min_protocol: u32,
    pub max_protocol: u32,
    pub client: ClientInfo,
    #[serde(default)]
    pub role: Option<String>,
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
    #[serde(default)]
    pub caps: Vec<String>,
    #[serde(default)]
    pub auth: Option<ConnectAuth>,
    #[serde(default)]
    pub device: Option<Value>,
}

/// `connect.params.client`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientInfo {
    pub id: String,
    pub version: String,
    pub platform: String,
    pub mode: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub device_family: Option<String>,
    #[serde(default)]
    pub instance_id: Option<String>,
}

/// `connect.params.auth`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectAuth {
    #[serde(default)]
    pub token: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub device_token: Option<String>,
}

/// Why the first frame of a connection is not an acceptable `connect`: the request id to answer (empty when the
/// frame was unreadable), the error, and the reason for the close frame (always 1002, a protocol error).
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectRefusal {
    pub id: String,
    pub error: Box<ErrorShape>,
    pub reason: &'static str,
}

/// An `INVALID_REQUEST` error with `details.code`.
pub fn invalid_request(message: impl Into<String>, code: &str) -> ErrorShape {
    ErrorShape::new("INVALID_REQUEST", message).with_details(serde_json::json!({"code": code}))
}

/// Reads the first frame of a connection: a `req` frame whose method is `connect`, with readable params and a
/// protocol range that includes this gateway's (probes and nodes may be one older). Authentication is the
/// gateway's business, after this.
///
/// # Errors
/// A [`ConnectRefusal`] saying what was wrong.
pub fn parse_connect(text: &str) -> Result<(RequestFrame, ConnectParams), ConnectRefusal> {
    let refuse = |id: &str, error: ErrorShape, reason: &'static str| ConnectRefusal {
        id: id.to_owned(),
        error: Box::new(error),
        reason,
    };
    let request = match serde_json::from_str::<ClientFrame>(text) {
        Ok(ClientFrame::Req(request)) => request,
        Err(error) => {
            return Err(refuse(
                "",
                invalid_request(format!("invalid frame: {error}"), "INVALID_FRAME"),
                "invalid frame",
            ));
        }
    };
    if request.method != "connect" {
        let message = format!("the first request must be connect, not {}", request.method);
        return Err(refuse(&request.id, invalid_request(message, "CONNECT_REQUIRED"), "connect required"));
    }
    let params: ConnectParams = match serde_json::from_value(request.params.clone()) {
        Ok(params) => params,
        Err(error) => {
            let error = invalid_request(format!("invalid connect params: {error}"), "INVALID_CONNECT_PARAMS");
            return Err(refuse(&request.id, error, "invalid connect params"));
        }
    };
    let node = params.role.as_deref() == Some("node");
    let lowest = if params.client.mode == "probe" || node { MIN_PROBE_PROTOCOL_VERSION } else { PROTOCOL_VERSION };
    if params.min_protocol > PROTOCOL_VERSION || params.max_protocol < lowest {
        let message = format!(
            "protocol mismatch: the client speaks {}..{}, this gateway speaks {PROTOCOL_VERSION}",
            params.min_protocol, params.max_protocol
        );
        let error = ErrorShape::new("INVALID_REQUEST", message)
            .with_details(serde_json::json!({"code": "PROTOCOL_MISMATCH", "expectedProtocol": PROTOCOL_VERSION}));
        return Err(refuse(&request.id, error, "protocol mismatch"));
    }
    Ok((request, params))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parse_connect_says_what_is_wrong_with_a_first_frame() {
        let connect = |params: serde_json::Value| {
            json!({"type": "req", "id": "c1", "method": "connect", "params": params}).to_string()
        };
        let client = json!({"id": "cli", "version": "1", "platform": "linux", "mode": "cli"});
        let (request, params) = parse_connect(&connect(json!({"minProtocol": 3, "maxProtocol": 4, "client": client})))
            .expect("a good connect");
        assert_eq!((request.id.as_str(), params.max_protocol), ("c1", 4));
        let refused = |text: &str| parse_connect(text).expect_err("refused");
        let garbage = refused("{not json");
        assert_eq!((garbage.id.as_str(), garbage.reason), ("", "invalid frame"));
        let other = refused(&json!({"type": "req", "id": "x", "method": "health", "params": {}}).to_string());
        assert_eq!(
            (other.id.as_str(), other.error.details.clone().expect("details")["code"].clone()),
            ("x", json!("CONNECT_REQUIRED"))
        );
        assert_eq!(refused(&connect(json!({"minProtocol": 3}))).reason, "invalid connect params");
        let old = refused(&connect(json!({"minProtocol": 1, "maxProtocol": 3, "client": client})));
        assert_eq!(old.reason, "protocol mismatch", "an operator client must speak 4");
        let probe = json!({"id": "p", "version": "1", "platform": "linux", "mode": "probe"});
        assert!(parse_connect(&connect(json!({"minProtocol": 3, "maxProtocol": 3, "client": probe}))).is_ok());
    }

    #[test]
    fn parses_what_the_reference_cli_sends() {
        let frame = json!({"type":"req","id":"1:abc","method":"connect","params":{"minProtocol":4,"maxProtocol":4,
            "client":{"id":"cli","version":"2026.9.6","platform":"linux","deviceFamily":"Linux","mode":"cli","instanceId":"u"},
            "caps":[],"auth":{"token":"T"},"role":"operator","scopes":["operator.read"]}});
        let ClientFrame::Req(request) = serde_json::from_value(frame).unwrap();
        let params: ConnectParams = serde_json::from_value(request.params).unwrap();
        assert_eq!(params.client.id, "cli");
        assert_eq!(params.auth.unwrap().token.as_deref(), Some("T"));
        assert!(serde_json::from_value::<ClientFrame>(json!({"type":"res","id":"1","ok":true})).is_err());
        let res =
            serde_json::to_value(ResponseFrame::error("7", ErrorShape::new("INVALID_REQUEST", "unknown method: x")))
                .unwrap();
        assert_eq!(
            res,
            json!({"type":"res","id":"7","ok":false,"error":{"code":"INVALID_REQUEST","message":"unknown method: x"}})
        );
    }
}
