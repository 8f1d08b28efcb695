//! Signed tokens for tracking links, the open pixel, one-click unsubscribe
//! and the preference center.
//!
//! A token is `base64url(payload || HMAC-SHA256(key, payload))` (RFC 2104,
//! RFC 4648 §5 without padding). The payload names the workspace, the
//! message, the recipient profile and the action; a click token also carries
//! the link's index and the original URL, so the click endpoint redirects
//! only to the URL that was signed and never to anything taken from the
//! request.
//!
//! Invariants:
//! - The MAC is checked, in constant time, before any field is read; a token
//!   that fails it yields no claims at all.
//! - Every key in [`SigningKeys`] verifies; the first one signs. Rotation is:
//!   put the new key first, keep the old one until its links have aged out.
//! - The payload is parsed strictly: trailing bytes, overlong numbers or a
//!   wrong version are errors, so one signed payload has one meaning.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tidings_model::{ProfileId, WorkspaceId};

type HmacSha256 = Hmac<Sha256>;

const VERSION: u8 = 1;
const MAC_LEN: usize = 32;
/// Longer tokens are refused before decoding, so a request cannot make the
/// endpoint hash megabytes.
pub const MAX_TOKEN_LEN: usize = 8 * 1024;
/// The shortest key accepted: 128 bits.
pub const MIN_KEY_LEN: usize = 16;

/// What a token lets its bearer do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Follow link number `link` of the message, which pointed to `url`.
    Click { link: u32, url: String },
    /// The open pixel.
    Open,
    /// One-click unsubscribe (RFC 8058).
    Unsubscribe,
    /// Open the preference center.
    Preferences,
}

impl Action {
    fn tag(&self) -> u8 {
        match self {
            Action::Click { .. } => 1,
            Action::Open => 2,
            Action::Unsubscribe => 3,
            Action::Preferences => 4,
        }
    }
}

/// What a verified token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    pub workspace: WorkspaceId,
    /// The message's key as the caller gave it (an outbox id, a Message-ID).
    pub message: String,
    pub profile: ProfileId,
    pub action: Action,
}

/// Why a token was refused. Deliberately coarse: the caller answers 4xx
/// for all of them and a client learns nothing about the keys.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not base64url, too short or too long to be a token.
    #[error("malformed token")]
    Malformed,
    /// The signature does not match any key: tampered, truncated or forged.
    #[error("invalid token signature")]
    BadSignature,
    /// Signed by us but in a format this version does not read.
    #[error("unsupported token version")]
    UnsupportedVersion,
}

/// Why a set of signing keys was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// At least one key is needed to sign.
    #[error("no signing key configured")]
    NoKeys,
    /// A key shorter than [`MIN_KEY_LEN`] bytes.
    #[error("signing key {index} is {len} bytes; at least 16 are needed")]
    TooShort { index: usize, len: usize },
}

/// The HMAC keys of a workspace: the first signs, all of them verify.
#[derive(Clone)]
pub struct SigningKeys {
    keys: Vec<Vec<u8>>,
}

impl std::fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKeys({} keys)", self.keys.len())
    }
}

impl SigningKeys {
    pub fn new(keys: Vec<Vec<u8>>) -> Result<Self, KeyError> {
        if keys.is_empty() {
            return Err(KeyError::NoKeys);
        }
        if let Some((index, k)) = keys.iter().enumerate().find(|(_, k)| k.len() < MIN_KEY_LEN) {
            return Err(KeyError::TooShort { index, len: k.len() });
        }
        Ok(SigningKeys { keys })
    }

    /// Signs `claims` with the first key.
    pub fn sign(&self, claims: &Claims) -> String {
        let mut bytes = encode_payload(claims);
        let mac = mac(&self.keys[0], &bytes);
        bytes.extend_from_slice(&mac);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Checks `token` against every key and returns what it says.
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        verify(token, self)
    }

    /// An HMAC-SHA256 of `data` under the first key, for values the server
    /// hands out and takes back (the preference center's form token).
    pub fn mac(&self, data: &[u8]) -> [u8; MAC_LEN] {
        mac(&self.keys[0], data)
    }

    /// Whether `tag` is the HMAC of `data` under any key (constant time).
    pub fn check_mac(&self, data: &[u8], tag: &[u8]) -> bool {
        self.keys.iter().any(|k| {
            let mut m = <HmacSha256 as Mac>::new_from_slice(k).expect("HMAC accepts any key length");
            m.update(data);
            m.verify_slice(tag).is_ok()
        })
    }
}

fn mac(key: &[u8], payload: &[u8]) -> [u8; MAC_LEN] {
    let mut m = <HmacSha256 as Mac>::new_from_slice(key).expect("HMAC accepts any key length");
    m.update(payload);
    m.finalize().into_bytes().into()
}

/// Verifies `token` with any of `keys` (constant-time comparison) and
/// returns its claims.
pub fn verify(token: &str, keys: &SigningKeys) -> Result<Claims, TokenError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(TokenError::Malformed);
    }
    let bytes = URL_SAFE_NO_PAD.decode(token.as_bytes()).map_err(|_| TokenError::Malformed)?;
    if bytes.len() < MAC_LEN + 2 {
        return Err(TokenError::Malformed);
    }
    let (payload, tag) = bytes.split_at(bytes.len() - MAC_LEN);
    let valid = keys.keys.iter().any(|key| {
        let mut m = <HmacSha256 as Mac>::new_from_slice(key).expect("HMAC accepts any key length");
        m.update(payload);
        m.verify_slice(tag).is_ok()
    });
    if !valid {
        return Err(TokenError::BadSignature);
    }
    if payload[0] != VERSION {
        return Err(TokenError::UnsupportedVersion);
    }
    // A payload we signed always parses; failing here means a format bug,
    // which is reported as a malformed token rather than trusted.
    decode_payload(&payload[1..]).ok_or(TokenError::Malformed)
}

/// The workspace a token says it belongs to, read without checking its
/// signature: only to choose whose keys to [`verify`] it with (nothing it
/// says is trusted before that).
pub fn claimed_workspace(token: &str) -> Option<WorkspaceId> {
    if token.len() > MAX_TOKEN_LEN {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(token.as_bytes()).ok()?;
    let payload = bytes.get(..bytes.len().checked_sub(MAC_LEN)?)?;
    if payload.first() != Some(&VERSION) {
        return None;
    }
    let mut r = Reader(payload.get(2..)?);
    Some(WorkspaceId(unzigzag(r.varint()?)))
}

fn encode_payload(c: &Claims) -> Vec<u8> {
    let mut out = Vec::with_capacity(32 + c.message.len());
    out.push(VERSION);
    out.push(c.action.tag());
    put_varint(&mut out, zigzag(c.workspace.0));
    put_varint(&mut out, zigzag(c.profile.0));
    put_bytes(&mut out, c.message.as_bytes());
    if let Action::Click { link, url } = &c.action {
        put_varint(&mut out, u64::from(*link));
        put_bytes(&mut out, url.as_bytes());
    }
    out
}

fn decode_payload(p: &[u8]) -> Option<Claims> {
    let mut r = Reader(p);
    let tag = r.byte()?;
    let workspace = WorkspaceId(unzigzag(r.varint()?));
    let profile = ProfileId(unzigzag(r.varint()?));
    let message = String::from_utf8(r.bytes()?.to_vec()).ok()?;
    let action = match tag {
        1 => {
            let link = u32::try_from(r.varint()?).ok()?;
            let url = String::from_utf8(r.bytes()?.to_vec()).ok()?;
            Action::Click { link, url }
        }
        2 => Action::Open,
        3 => Action::Unsubscribe,
        4 => Action::Preferences,
        _ => return None,
    };
    if !r.0.is_empty() {
        return None;
    }
    Some(Claims { workspace, message, profile, action })
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }

    fn varint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            let part = u64::from(b & 0x7f);
            if shift == 63 && part > 1 {
                return None;
            }
            v |= part << shift;
            if b & 0x80 == 0 {
                // Reject non-minimal encodings (a trailing zero group).
                if b == 0 && shift > 0 {
                    return None;
                }
                return Some(v);
            }
        }
        None
    }

    fn bytes(&mut self) -> Option<&'a [u8]> {
        let len = usize::try_from(self.varint()?).ok()?;
        if len > self.0.len() {
            return None;
        }
        let (b, rest) = self.0.split_at(len);
        self.0 = rest;
        Some(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> SigningKeys {
        SigningKeys::new(vec![b"0123456789abcdef-first".to_vec(), b"0123456789abcdef-older".to_vec()]).unwrap()
    }

    fn click() -> Claims {
        Claims {
            workspace: WorkspaceId(7),
            message: "msg-42".into(),
            profile: ProfileId(-3),
            action: Action::Click { link: 2, url: "https://shop.example/p?a=1&b=2".into() },
        }
    }

    #[test]
    fn the_workspace_is_read_before_the_keys_are_chosen() {
        let keys = SigningKeys::new(vec![b"0123456789abcdef0123456789abcdef".to_vec()]).unwrap();
        let c = Claims { workspace: WorkspaceId(42), profile: ProfileId(3), message: "m".into(), action: Action::Open };
        let t = keys.sign(&c);
        assert_eq!(claimed_workspace(&t), Some(WorkspaceId(42)));
        assert_eq!(claimed_workspace("not a token"), None);
        assert_eq!(claimed_workspace(""), None);
    }

    #[test]
    fn round_trips_every_action() {
        let k = keys();
        for action in [Action::Open, Action::Unsubscribe, Action::Preferences, click().action] {
            let claims = Claims { action, ..click() };
            let token = k.sign(&claims);
            assert!(token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "{token}");
            assert_eq!(verify(&token, &k), Ok(claims));
        }
    }

    #[test]
    fn rotation_verifies_with_older_keys_and_signs_with_the_first() {
        let old = SigningKeys::new(vec![b"0123456789abcdef-older".to_vec()]).unwrap();
        let token = old.sign(&click());
        assert_eq!(keys().verify(&token), Ok(click()));
        let new_token = keys().sign(&click());
        assert_eq!(old.verify(&new_token), Err(TokenError::BadSignature));
    }

    #[test]
    fn refuses_bad_keys_and_garbage() {
        assert_eq!(SigningKeys::new(vec![]).unwrap_err(), KeyError::NoKeys);
        assert!(matches!(SigningKeys::new(vec![b"short".to_vec()]), Err(KeyError::TooShort { .. })));
        let k = keys();
        assert_eq!(k.verify(""), Err(TokenError::Malformed));
        assert_eq!(k.verify("not base64 !"), Err(TokenError::Malformed));
        assert_eq!(k.verify(&"A".repeat(MAX_TOKEN_LEN + 1)), Err(TokenError::Malformed));
        assert_eq!(k.verify(&URL_SAFE_NO_PAD.encode([0u8; 40])), Err(TokenError::BadSignature));
    }

    #[test]
    fn varints_are_strict() {
        for v in [0i64, 1, -1, 63, -64, 1 << 40, i64::MAX, i64::MIN] {
            let mut out = Vec::new();
            put_varint(&mut out, zigzag(v));
            assert_eq!(Reader(&out).varint().map(unzigzag), Some(v));
        }
        assert_eq!(Reader(&[0x80, 0x00]).varint(), None);
    }
}
