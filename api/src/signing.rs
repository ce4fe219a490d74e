//! Request and answer signatures (Ed25519). The exact bytes signed are specified in
//! `schemas/SIGNATURES.md`; [`request_message`] and [`answer_message`] build them, and the
//! test vector there is checked by this module's tests.
//!
//! The signed body is the message's canonical protobuf encoding (fields in ascending
//! number order, default values omitted, no unknown fields), which is what the engine
//! re-encodes after decoding. The operation id is a field of the body, so it is covered.

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};
use std::path::Path;

use loyalty_proto::metadata::{SIGNATURE_HEADER, SIGNED_AT_HEADER};

/// Why a request's signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("this cashbox must sign its requests (x-signature and x-signed-at)")]
    Required,
    #[error("the cashbox has no signing key registered")]
    NoKey,
    #[error("malformed {0}")]
    Malformed(&'static str),
    #[error("x-signed-at is {skew_secs} s away from server time; at most {window_secs} s allowed")]
    Stale { skew_secs: i64, window_secs: u64 },
    #[error("signature does not verify")]
    Invalid,
}

impl SignatureError {
    /// The stable token sent in `x-loyalty-error`.
    pub fn token(&self) -> &'static str {
        match self {
            SignatureError::Required => "SIGNATURE_REQUIRED",
            SignatureError::NoKey => "SIGNING_KEY_MISSING",
            SignatureError::Malformed(_) => "SIGNATURE_MALFORMED",
            SignatureError::Stale { .. } => "SIGNATURE_STALE",
            SignatureError::Invalid => "SIGNATURE_INVALID",
        }
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The bytes a cashbox signs for one request.
pub fn request_message(method: &str, cashbox: u32, signed_at_ms: i64, body: &[u8]) -> Vec<u8> {
    format!(
        "loyalty.v1 request\n{method}\n{cashbox}\n{signed_at_ms}\n{}",
        sha256_hex(body)
    )
    .into_bytes()
}

/// The bytes the engine signs for one answer: bound to the request it answers.
pub fn answer_message(
    method: &str,
    cashbox: u32,
    signed_at_ms: i64,
    request_body: &[u8],
    answer_body: &[u8],
) -> Vec<u8> {
    format!(
        "loyalty.v1 answer\n{method}\n{cashbox}\n{signed_at_ms}\n{}\n{}",
        sha256_hex(request_body),
        sha256_hex(answer_body)
    )
    .into_bytes()
}

/// Parses 64 hex digits into an Ed25519 public key (a point on the curve).
pub fn public_key(hex_key: &str) -> Result<[u8; 32], SignatureError> {
    let bytes: [u8; 32] = hex::decode(hex_key)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(SignatureError::Malformed("public key (64 hex digits)"))?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| SignatureError::Malformed("public key"))?;
    Ok(bytes)
}

/// The signature headers as sent, before checking them against a key.
pub struct Presented<'a> {
    pub signature: &'a str,
    pub signed_at: &'a str,
}

/// Verifies a request signature: timestamp within `window_secs` of `now_ms`, then the
/// Ed25519 signature (strict: no malleable encodings).
pub fn verify_request(
    key: &[u8; 32],
    presented: &Presented<'_>,
    method: &str,
    cashbox: u32,
    body: &[u8],
    now_ms: i64,
    window_secs: u64,
) -> Result<(), SignatureError> {
    let signed_at: i64 = presented
        .signed_at
        .parse()
        .map_err(|_| SignatureError::Malformed("x-signed-at (Unix milliseconds)"))?;
    let skew_ms = now_ms.saturating_sub(signed_at);
    if skew_ms.unsigned_abs() > window_secs.saturating_mul(1000) {
        return Err(SignatureError::Stale {
            skew_secs: skew_ms / 1000,
            window_secs,
        });
    }
    let signature: [u8; 64] = hex::decode(presented.signature)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(SignatureError::Malformed("x-signature (128 hex digits)"))?;
    let key = VerifyingKey::from_bytes(key).map_err(|_| SignatureError::NoKey)?;
    key.verify_strict(
        &request_message(method, cashbox, signed_at, body),
        &Signature::from_bytes(&signature),
    )
    .map_err(|_| SignatureError::Invalid)
}

/// An Ed25519 seed kept as 64 hex digits in a file.
fn read_seed(path: &Path) -> std::io::Result<[u8; 32]> {
    let text = std::fs::read_to_string(path)?;
    hex::decode(text.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{}: expected 64 hex digits", path.display()),
            )
        })
}

/// The engine's own key, which signs answers.
pub struct ServerKey(SigningKey);

impl ServerKey {
    pub fn from_seed(seed: [u8; 32]) -> Self {
        ServerKey(SigningKey::from_bytes(&seed))
    }

    /// Loads the key from `path` (64 hex digits of seed), creating it (mode 0600) when the
    /// file does not exist.
    pub fn load_or_create(path: &Path) -> std::io::Result<Self> {
        match read_seed(path) {
            Ok(seed) => Ok(Self::from_seed(seed)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let seed: [u8; 32] = rand::random();
                write_private_file(path, &hex::encode(seed))?;
                tracing::info!(path = %path.display(), "generated the answer-signing key");
                Ok(Self::from_seed(seed))
            }
            Err(e) => Err(e),
        }
    }

    pub fn public_hex(&self) -> String {
        hex::encode(self.0.verifying_key().to_bytes())
    }

    /// A secret for another purpose, derived from this key's seed and a label.
    pub fn derive(&self, label: &str) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(label.as_bytes());
        h.update([0]);
        h.update(self.0.to_bytes());
        h.finalize().into()
    }

    pub fn sign(&self, message: &[u8]) -> String {
        hex::encode(self.0.sign(message).to_bytes())
    }
}

/// A cashbox's side: signs requests as a till does.
pub struct CashboxSigner {
    key: SigningKey,
    cashbox: u32,
}

impl CashboxSigner {
    pub fn new(seed: [u8; 32], cashbox: u32) -> Self {
        CashboxSigner {
            key: SigningKey::from_bytes(&seed),
            cashbox,
        }
    }

    /// Reads a seed file (64 hex digits), as written by `loyalty-admin cashbox-keygen`.
    pub fn from_file(path: &Path, cashbox: u32) -> std::io::Result<Self> {
        Ok(Self::new(read_seed(path)?, cashbox))
    }

    pub fn public_hex(&self) -> String {
        hex::encode(self.key.verifying_key().to_bytes())
    }

    /// Adds `x-signed-at` and `x-signature` for `method` (e.g. "UploadOffline") to `req`.
    pub fn sign<T: prost::Message>(&self, req: &mut tonic::Request<T>, method: &str, now_ms: i64) {
        let (at, sig) = self.signature(method, req.get_ref(), now_ms);
        let md = req.metadata_mut();
        md.insert(SIGNED_AT_HEADER, at.parse().expect("digits"));
        md.insert(SIGNATURE_HEADER, sig.parse().expect("hex"));
    }

    /// When and the signature (hex) of a request to the cash service's `method`: the
    /// unary call's headers, or a store-server stream operation's `signed_at` and
    /// `signature`.
    pub fn signature<T: prost::Message>(
        &self,
        method: &str,
        body: &T,
        now_ms: i64,
    ) -> (String, String) {
        let path = format!("/loyalty.v1.CashService/{method}");
        let sig = self.key.sign(&request_message(
            &path,
            self.cashbox,
            now_ms,
            &body.encode_to_vec(),
        ));
        (now_ms.to_string(), hex::encode(sig.to_bytes()))
    }
}

/// Unix milliseconds now, for signing on the client side.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Checks an answer signature with the engine's public key (what a till does).
pub fn verify_answer(public: &[u8; 32], message: &[u8], signature_hex: &str) -> bool {
    let Some(sig) = hex::decode(signature_hex)
        .ok()
        .and_then(|b| <[u8; 64]>::try_from(b).ok())
    else {
        return false;
    };
    VerifyingKey::from_bytes(public)
        .and_then(|k| k.verify(message, &Signature::from_bytes(&sig)))
        .is_ok()
}

/// Writes a file only its owner may read (tokens and keys).
pub fn write_private_file(path: &std::path::Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(contents.as_bytes())?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pb;
    use prost::Message;

    /// The test vector published in `schemas/SIGNATURES.md`.
    #[test]
    fn test_vector() {
        let key = SigningKey::from_bytes(&[7u8; 32]);
        let body = pb::PurchaseRequest {
            operation_id: "0191f2a4-7c1e-7b3a-9d2e-3f4a5b6c7d8e".into(),
            cheque_id: "A-1001".into(),
            slip_width: 0,
        }
        .encode_to_vec();
        assert_eq!(
            hex::encode(&body),
            "0a2430313931663261342d376331652d376233612d396432652d336634613562366337643865120641\
             2d31303031"
        );
        let method = "/loyalty.v1.CashService/Confirm";
        let message = request_message(method, 7, 1_790_000_000_000, &body);
        assert_eq!(
            String::from_utf8(message.clone()).unwrap(),
            "loyalty.v1 request\n/loyalty.v1.CashService/Confirm\n7\n1790000000000\n\
             53b33ec30e5d49cd2b7f2c730ff5e9d488c4e182bcf94e0b61d7f1ae5b601432"
        );
        let signature = hex::encode(key.sign(&message).to_bytes());
        // Computed independently (Python `cryptography`), not by this code.
        assert_eq!(
            signature,
            "53216cbcfce41fade951bf4d2c074047803c9345498e2df611b01ed3940d52f8\
             7dfb5249bb2a2c3673c790ca5fd1a5ed326c8488cec43314d786d5913634330e"
        );
        assert_eq!(
            hex::encode(key.verifying_key().to_bytes()),
            "ea4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421eea691446d22c"
        );
        let presented = Presented {
            signature: &signature,
            signed_at: "1790000000000",
        };
        let public = key.verifying_key().to_bytes();
        let ok = |now| verify_request(&public, &presented, method, 7, &body, now, 300);
        assert_eq!(ok(1_790_000_000_000), Ok(()));
        assert_eq!(ok(1_790_000_300_000), Ok(()));
        assert!(matches!(
            ok(1_790_000_300_001),
            Err(SignatureError::Stale { .. })
        ));
        assert!(matches!(
            ok(1_789_999_699_999),
            Err(SignatureError::Stale { .. })
        ));
        let other_cashbox = verify_request(
            &public,
            &presented,
            method,
            8,
            &body,
            1_790_000_000_000,
            300,
        );
        assert_eq!(other_cashbox, Err(SignatureError::Invalid));
        let mut tampered = body.clone();
        *tampered.last_mut().unwrap() ^= 1;
        let changed = verify_request(
            &public,
            &presented,
            method,
            7,
            &tampered,
            1_790_000_000_000,
            300,
        );
        assert_eq!(changed, Err(SignatureError::Invalid));
    }

    #[test]
    fn answers_verify_with_the_published_key() {
        let server = ServerKey::from_seed([9u8; 32]);
        let public = public_key(&server.public_hex()).unwrap();
        let m = answer_message("/loyalty.v1.CashService/Confirm", 7, 5, b"req", b"ans");
        let sig = server.sign(&m);
        assert!(verify_answer(&public, &m, &sig));
        let other = answer_message("/loyalty.v1.CashService/Confirm", 7, 5, b"req", b"ans2");
        assert!(!verify_answer(&public, &other, &sig));
        assert!(!verify_answer(&public, &m, "zz"));
    }

    #[test]
    fn malformed_keys_and_signatures_are_refused() {
        assert!(public_key("00").is_err());
        assert!(public_key(&"g".repeat(64)).is_err());
        let public = SigningKey::from_bytes(&[1; 32]).verifying_key().to_bytes();
        for (signature, signed_at) in [("abc", "1"), (&*"0".repeat(128), "x"), ("", "")] {
            let p = Presented {
                signature,
                signed_at,
            };
            assert!(matches!(
                verify_request(&public, &p, "/m", 1, b"", 1, 300),
                Err(SignatureError::Malformed(_))
            ));
        }
    }
}
