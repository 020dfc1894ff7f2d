//! Device identity (§1.6 of the reference): an Ed25519 key whose id is the hex SHA-256 of the raw public key, a
//! signature over `v3|deviceId|clientId|clientMode|role|scopes|signedAt|token|nonce|platform|deviceFamily` (or the
//! older `v2|…|nonce` form) binding the connection to this gateway's challenge, and device tokens issued on first
//! approval and accepted later in place of the shared secret.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use openclaw_protocol::gateway::ConnectParams;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// How far `signedAt` may be from now.
const MAX_SKEW_MS: i64 = 10 * 60 * 1000;

/// A device whose signature checked out.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct VerifiedDevice {
    pub(crate) id: String,
    pub(crate) public_key: String,
}

/// A refusal: the reference's detail code and a message.
pub(crate) type Refusal = (&'static str, String);

/// Lower-case hex SHA-256.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

fn field<'a>(device: &'a Value, name: &str) -> Result<&'a Value, Refusal> {
    device.get(name).ok_or(("DEVICE_AUTH_INVALID", format!("device.{name} is missing")))
}

fn text<'a>(device: &'a Value, name: &str) -> Result<&'a str, Refusal> {
    field(device, name)?.as_str().ok_or(("DEVICE_AUTH_INVALID", format!("device.{name} must be a string")))
}

/// Checks `connect.params.device` against the challenge this connection was sent.
pub(crate) fn verify(
    params: &ConnectParams,
    device: &Value,
    challenge_nonce: &str,
    presented_token: &str,
) -> Result<VerifiedDevice, Refusal> {
    let id = text(device, "id")?;
    let public_key_text = text(device, "publicKey")?;
    let signature_text = text(device, "signature")?;
    let nonce = text(device, "nonce")?;
    let signed_at = field(device, "signedAt")?
        .as_i64()
        .ok_or(("DEVICE_AUTH_INVALID", "device.signedAt must be an integer (ms)".to_owned()))?;
    let raw_key = URL_SAFE_NO_PAD
        .decode(public_key_text.trim_end_matches('='))
        .map_err(|_| ("DEVICE_AUTH_PUBLIC_KEY_INVALID", "device.publicKey is not base64url".to_owned()))?;
    let key_bytes: [u8; 32] = raw_key.as_slice().try_into().map_err(|_| {
        ("DEVICE_AUTH_PUBLIC_KEY_INVALID", "device.publicKey must be a raw 32-byte Ed25519 key".to_owned())
    })?;
    let key = VerifyingKey::from_bytes(&key_bytes)
        .map_err(|_| ("DEVICE_AUTH_PUBLIC_KEY_INVALID", "device.publicKey is not a valid Ed25519 point".to_owned()))?;
    if sha256_hex(&key_bytes) != id {
        return Err(("DEVICE_AUTH_DEVICE_ID_MISMATCH", "device.id is not the SHA-256 of device.publicKey".to_owned()));
    }
    if nonce.is_empty() {
        return Err(("DEVICE_AUTH_NONCE_REQUIRED", "device.nonce is required".to_owned()));
    }
    if nonce != challenge_nonce {
        return Err(("DEVICE_AUTH_NONCE_MISMATCH", "device.nonce is not this connection's challenge nonce".to_owned()));
    }
    if (openclaw_protocol::now_ms() - signed_at).abs() > MAX_SKEW_MS {
        return Err((
            "DEVICE_AUTH_SIGNATURE_EXPIRED",
            "device.signedAt is too far from the gateway's clock".to_owned(),
        ));
    }
    let signature_bytes = URL_SAFE_NO_PAD
        .decode(signature_text.trim_end_matches('='))
        .map_err(|_| ("DEVICE_AUTH_SIGNATURE_INVALID", "device.signature is not base64url".to_owned()))?;
    let signature = Signature::from_slice(&signature_bytes).map_err(|_| {
        ("DEVICE_AUTH_SIGNATURE_INVALID", "device.signature is not a 64-byte Ed25519 signature".to_owned())
    })?;
    let role = params.role.as_deref().unwrap_or("operator");
    let scopes = params.scopes.clone().unwrap_or_default().join(",");
    let client = &params.client;
    let v2 = format!("v2|{id}|{}|{}|{role}|{scopes}|{signed_at}|{presented_token}|{nonce}", client.id, client.mode);
    let v3 = format!(
        "v3|{id}|{}|{}|{role}|{scopes}|{signed_at}|{presented_token}|{nonce}|{}|{}",
        client.id,
        client.mode,
        client.platform.to_lowercase(),
        client.device_family.as_deref().unwrap_or_default().to_lowercase()
    );
    let valid = [v3, v2].iter().any(|payload| key.verify(payload.as_bytes(), &signature).is_ok());
    if !valid {
        return Err(("DEVICE_AUTH_SIGNATURE_INVALID", "the device signature does not verify".to_owned()));
    }
    Ok(VerifiedDevice { id: id.to_owned(), public_key: public_key_text.to_owned() })
}

/// A new secret (device tokens, generated gateway tokens): 32 random bytes, as 64 hex digits.
pub(crate) fn new_token() -> String {
    let mut bytes = [0_u8; 32];
    bytes[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    bytes[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    // Hex, not base64url: a secret that starts with `-` reads as a flag in `--token <secret>`.
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}
