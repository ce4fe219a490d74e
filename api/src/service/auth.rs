//! Who calls: a cashbox by its id and secret (then its rate of requests), an administrator
//! by a named token; the cash service's signature policy — requests checked where one is
//! required or sent, answers signed where the policy says so (`schemas/SIGNATURES.md`).

use super::cash::CashApi;
use super::method::Method;
use super::{status, AdminApi, Rpc};
use crate::metrics::Timer;
use crate::signing::{self, Presented, ServerKey, SignatureError};
use loyalty_core::ids::{CashboxId, OperatorName};
use loyalty_core::model::Cashbox;
use loyalty_core::state::StateView;
use loyalty_engine::{Busy, EngineError};
use loyalty_proto::metadata::{
    ADMIN_TOKEN_HEADER, CASHBOX_ID_HEADER, CASHBOX_SECRET_HEADER, ERROR_HEADER, SIGNATURE_HEADER,
    SIGNED_AT_HEADER,
};
use prost::Message;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use tonic::metadata::MetadataMap;
use tonic::{Response, Status};

fn header<'m>(md: &'m MetadataMap, name: &str) -> Result<&'m str, Status> {
    md.get(name)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| Status::unauthenticated(format!("missing {name}")))
}

/// Constant-time comparison of two digests.
/// Equal bytes, compared in constant time.
pub(crate) fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub fn secret_hash(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// The signature policy of the cash service.
pub struct Signatures {
    /// Every cashbox must sign; otherwise only cashboxes with a registered key must.
    pub required: bool,
    pub window_secs: u64,
    /// Sign every answer; otherwise only those to cashboxes that sign their requests.
    pub sign_all_answers: bool,
    /// The engine's key, which signs answers.
    pub key: Arc<ServerKey>,
}

/// An authenticated call: who sent it, to which method, the request's canonical bytes (to
/// bind the answer's signature to it), and its latency timer, which records when the call
/// ends.
pub(super) struct Call {
    pub cashbox: CashboxId,
    pub method: &'static Method,
    body: Vec<u8>,
    /// The answer is to be signed.
    seal: bool,
    _timer: Timer,
}

pub(super) fn refused_signature(cashbox: CashboxId, e: SignatureError) -> Status {
    tracing::warn!(cashbox = cashbox.0, reason = e.token(), "signature refused");
    let mut s = Status::unauthenticated(e.to_string());
    s.metadata_mut()
        .insert(ERROR_HEADER, e.token().parse().expect("ascii token"));
    s
}

impl CashApi {
    /// The calling cashbox, authenticated by its secret. A cashbox acts only as itself.
    fn cashbox(&self, md: &MetadataMap) -> Result<Cashbox, Status> {
        let id: u32 = header(md, CASHBOX_ID_HEADER)?
            .parse()
            .map_err(|_| Status::unauthenticated("x-cashbox-id must be a number"))?;
        let secret = header(md, CASHBOX_SECRET_HEADER)?;
        let found: Option<Cashbox> = self
            .engine
            .read(|v| v.cashbox(CashboxId(id)))
            .map_err(status)?;
        match found {
            Some(c) if same(&c.secret_sha256, &secret_hash(secret)) => Ok(c),
            _ => Err(Status::unauthenticated("unknown cashbox or wrong secret")),
        }
    }

    /// Authenticates the caller, checks the request's signature where one is required or
    /// sent, and hands out the message; the call's latency is timed from here.
    pub(super) fn open<T: Message>(&self, req: tonic::Request<T>) -> Result<(Call, T), Status> {
        let method = super::method::of(&req)?;
        let timer = self.metrics.timer(method.name);
        let cashbox = self.cashbox(req.metadata())?;
        let (md, _, msg) = req.into_parts();
        let presented = match (md.get(SIGNATURE_HEADER), md.get(SIGNED_AT_HEADER)) {
            (None, None) => None,
            (Some(sig), Some(at)) => Some(Presented {
                signature: sig.to_str().unwrap_or(""),
                signed_at: at.to_str().unwrap_or(""),
            }),
            _ => {
                return Err(refused_signature(
                    cashbox.id,
                    SignatureError::Malformed("signature: x-signature and x-signed-at go together"),
                ))
            }
        };
        let call = self.admit(&cashbox, method, timer, presented, || msg.encode_to_vec())?;
        Ok((call, msg))
    }

    /// A request of an authenticated cashbox: its rate, then its signature where one is
    /// required or sent. `body` gives the request's canonical bytes, asked for only when a
    /// signature is checked or the answer is to be signed.
    pub(super) fn admit(
        &self,
        cashbox: &Cashbox,
        method: &'static Method,
        timer: Timer,
        presented: Option<Presented<'_>>,
        body: impl FnOnce() -> Vec<u8>,
    ) -> Result<Call, Status> {
        self.limiter
            .take(cashbox.id.0, std::time::Instant::now())
            .map_err(|retry_after_ms| {
                status(EngineError::Busy {
                    what: Busy::CashboxRate,
                    retry_after_ms,
                })
            })?;
        let seal = self.signatures.sign_all_answers || cashbox.public_key.is_some();
        let body = if presented.is_some() || seal {
            body()
        } else {
            Vec::new()
        };
        let policy = &self.signatures;
        match (presented, cashbox.public_key) {
            (None, None) if !policy.required => {}
            (None, _) => return Err(refused_signature(cashbox.id, SignatureError::Required)),
            (Some(_), None) => return Err(refused_signature(cashbox.id, SignatureError::NoKey)),
            (Some(p), Some(key)) => signing::verify_request(
                &key,
                &p,
                method.path,
                cashbox.id.0,
                &body,
                self.engine.now().0,
                policy.window_secs,
            )
            .map_err(|e| refused_signature(cashbox.id, e))?,
        }
        Ok(Call {
            cashbox: cashbox.id,
            method,
            body,
            seal,
            _timer: timer,
        })
    }

    /// The answer's signature and when it was made, where the policy says to sign it.
    pub(super) fn signature<R: Message>(&self, call: &Call, reply: &R) -> Option<(String, i64)> {
        if !call.seal {
            return None;
        }
        let at = self.engine.now().0;
        let message = signing::answer_message(
            call.method.path,
            call.cashbox.0,
            at,
            &call.body,
            &reply.encode_to_vec(),
        );
        Some((self.signatures.key.sign(&message), at))
    }

    /// The answer, signed with the engine's key where the policy says so.
    pub(super) fn seal<R: Message>(&self, call: &Call, reply: R) -> Rpc<R> {
        let signature = self.signature(call, &reply);
        let mut response = Response::new(reply);
        if let Some((signature, at)) = signature {
            let md = response.metadata_mut();
            md.insert(SIGNATURE_HEADER, signature.parse().expect("hex"));
            md.insert(SIGNED_AT_HEADER, at.to_string().parse().expect("digits"));
        }
        Ok(response)
    }
}

impl AdminApi {
    pub(super) fn authorize(&self, md: &MetadataMap) -> Result<OperatorName, Status> {
        authorize_operator(&self.operators, md)
    }
}

/// The operator whose admin token a call carries. Every credential is compared, in
/// constant time.
pub fn authorize_operator(
    operators: &[Operator],
    md: &MetadataMap,
) -> Result<OperatorName, Status> {
    let hash = secret_hash(header(md, ADMIN_TOKEN_HEADER)?);
    operators
        .iter()
        .fold(None, |found, o| {
            if same(&hash, &o.token_sha256) {
                Some(o.name)
            } else {
                found
            }
        })
        .ok_or_else(|| Status::unauthenticated("wrong admin token"))
}

/// One admin credential: a named operator and the hash of their token.
#[derive(Debug, Clone)]
pub struct Operator {
    pub name: OperatorName,
    pub token_sha256: [u8; 32],
}

/// Parses an operators file: `<name> <sha256 hex>` per line, `#` comments, blank lines.
pub fn parse_operators(text: &str) -> Result<Vec<Operator>, String> {
    let mut out: Vec<Operator> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let at = |e: String| format!("line {}: {e}", i + 1);
        let mut parts = line.split_whitespace();
        let (Some(name), Some(hash), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(at("expected `<operator name> <sha256 hex>`".into()));
        };
        let name = OperatorName::new(name).map_err(|e| at(e.to_string()))?;
        let token_sha256: [u8; 32] = hex::decode(hash)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| at("the token hash must be 64 hex digits".into()))?;
        if name.as_str() == "admin" || out.iter().any(|o| o.name == name) {
            return Err(at(format!("operator {name} named twice")));
        }
        out.push(Operator { name, token_sha256 });
    }
    Ok(out)
}
