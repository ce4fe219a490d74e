//! Dynamic QR codes: the customer's app shows `<card number>:<code>`, where the code is a
//! six-digit one-time password derived from a per-card secret and the current 30-second
//! window (HMAC-SHA256, truncated as in RFC 4226). A code is valid in its window and the
//! next one (30–60 s) — and in the window before its own, so that a phone whose clock runs
//! up to 30 s ahead still works — and one purchase may use it; another purchase using it is
//! a replay. A code up to an hour old is recognised as expired.

use crate::ids::CardNo;
use crate::model::UnixMillis;
use sha2::{Digest, Sha256};

pub const WINDOW_MS: i64 = 30_000;

/// How far back an old code is recognised (as expired rather than invalid): an hour.
pub const EXPIRED_WINDOWS_RECOGNISED: i64 = 120;

/// Parses the QR payload `<card number>:<six digits>`.
pub fn parse(payload: &str) -> Option<(CardNo, u32)> {
    let (card, code) = payload.trim().rsplit_once(':')?;
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((CardNo::new(card).ok()?, code.parse().ok()?))
}

/// The window a server time falls in.
pub fn window(at: UnixMillis) -> i64 {
    at.0.div_euclid(WINDOW_MS)
}

fn hmac_sha256(key: &[u8; 32], message: &[u8]) -> [u8; 32] {
    let mut padded = [0u8; 64];
    padded[..32].copy_from_slice(key);
    let mut inner = Sha256::new();
    inner.update(padded.map(|b| b ^ 0x36));
    inner.update(message);
    let mut outer = Sha256::new();
    outer.update(padded.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

/// The code of `card` in `window`.
pub fn code(secret: &[u8; 32], card: &CardNo, window: i64) -> u32 {
    let mut message = card.as_str().as_bytes().to_vec();
    message.push(b':');
    message.extend_from_slice(&window.to_be_bytes());
    let mac = hmac_sha256(secret, &message);
    let offset = usize::from(mac[31] & 0x0f);
    let word = u32::from_be_bytes([
        mac[offset],
        mac[offset + 1],
        mac[offset + 2],
        mac[offset + 3],
    ]);
    (word & 0x7fff_ffff) % 1_000_000
}

/// The window a presented code belongs to, if it is the code of this window, the one
/// before (a code lives two windows) or the one after (the phone's clock ahead); `None` if
/// it matches none.
pub fn verify(secret: &[u8; 32], card: &CardNo, presented: u32, now: UnixMillis) -> Option<i64> {
    let w = window(now);
    [w, w - 1, w + 1]
        .into_iter()
        .find(|&candidate| code(secret, card, candidate) == presented)
}

/// Whether a code that no longer verifies is one of the card's codes of the last hour.
pub fn expired(secret: &[u8; 32], card: &CardNo, presented: u32, now: UnixMillis) -> bool {
    let w = window(now);
    (2..=EXPIRED_WINDOWS_RECOGNISED).any(|k| code(secret, card, w - k) == presented)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231_case_2_shape() {
        // RFC 4231 test case 1 uses a 20-byte key; padded to 32 bytes with zeros it is the
        // same HMAC key (keys shorter than the block are zero-padded).
        let mut key = [0u8; 32];
        key[..20].copy_from_slice(&[0x0b; 20]);
        assert_eq!(
            hex(&hmac_sha256(&key, b"Hi There")),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn a_code_lives_for_its_window_and_the_next() {
        let card = CardNo::new("2770000000017").unwrap();
        let secret = [5u8; 32];
        let t = UnixMillis(1_800_000_000_000);
        let c = code(&secret, &card, window(t));
        assert!(c < 1_000_000);
        assert_eq!(verify(&secret, &card, c, t), Some(window(t)));
        assert_eq!(
            verify(&secret, &card, c, UnixMillis(t.0 + WINDOW_MS)),
            Some(window(t))
        );
        assert_eq!(
            verify(&secret, &card, c, UnixMillis(t.0 + 2 * WINDOW_MS)),
            None
        );
        assert_eq!(verify(&[6u8; 32], &card, c, t), None);
        let other = CardNo::new("2770000000024").unwrap();
        assert_ne!(code(&secret, &other, window(t)), c);
    }
}
