//! DKIM signing (RFC 6376) with RSA-SHA256 and relaxed/relaxed
//! canonicalization.
//!
//! [`DkimSigner::sign`] takes a complete message as it will be sent and
//! returns it with a `DKIM-Signature` header in front. The signed header
//! list always includes From, To, Subject, Date, Message-ID,
//! List-Unsubscribe and List-Unsubscribe-Post; a listed header that is
//! absent is signed as absent (RFC 6376 §5.4), so it cannot be added later
//! without breaking the signature.
//!
//! Invariants:
//! - The bytes signed are the bytes sent: nothing is re-encoded after
//!   signing, and the signature header is folded only where relaxed
//!   canonicalization makes folding invisible.
//! - Signing is deterministic (PKCS#1 v1.5) given the message and time.
//!
//! Keys are read with the `rsa` crate; keys of 2048 bits and more are
//! signed with `ring` (constant time, and ~3x faster: signing is most of
//! the cost of a signed message), shorter ones with `rsa`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPrivateKey};
use rsa::pkcs8::{DecodePrivateKey, EncodePublicKey};
use rsa::{Pkcs1v15Sign, RsaPrivateKey, RsaPublicKey};
use sha2::{Digest, Sha256};
use tidings_model::Micros;

use crate::error::DeliveryError;

/// Headers every signature covers.
pub const REQUIRED_HEADERS: [&str; 7] =
    ["From", "To", "Subject", "Date", "Message-ID", "List-Unsubscribe", "List-Unsubscribe-Post"];

/// Also signed by default: they decide how the body is read.
pub const DEFAULT_EXTRA_HEADERS: [&str; 3] = ["Reply-To", "MIME-Version", "Content-Type"];

/// Signs messages for one domain and selector.
#[derive(Clone)]
pub struct DkimSigner {
    domain: String,
    selector: String,
    key: RsaPrivateKey,
    /// The same key for `ring`, when it takes it (2048 bits and more).
    fast: Option<std::sync::Arc<ring::rsa::KeyPair>>,
    headers: Vec<String>,
}

impl std::fmt::Debug for DkimSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DkimSigner").field("domain", &self.domain).field("selector", &self.selector).finish()
    }
}

impl DkimSigner {
    /// A signer from an RSA private key in PEM (PKCS#8 `PRIVATE KEY` or
    /// PKCS#1 `RSA PRIVATE KEY`). Keys under 1024 bits are refused.
    pub fn from_pem(domain: &str, selector: &str, pem: &str) -> Result<DkimSigner, DeliveryError> {
        let key = RsaPrivateKey::from_pkcs8_pem(pem)
            .or_else(|_| RsaPrivateKey::from_pkcs1_pem(pem))
            .map_err(|e| DeliveryError::Dkim(format!("cannot read the private key: {e}")))?;
        if rsa::traits::PublicKeyParts::size(&key) < 128 {
            return Err(DeliveryError::Dkim("the key is shorter than 1024 bits".into()));
        }
        let valid =
            |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_');
        if !valid(domain) || !valid(selector) {
            return Err(DeliveryError::Dkim(format!("invalid domain {domain:?} or selector {selector:?}")));
        }
        let mut headers: Vec<String> = REQUIRED_HEADERS.iter().map(|h| h.to_string()).collect();
        headers.extend(DEFAULT_EXTRA_HEADERS.iter().map(|h| h.to_string()));
        let fast = key
            .to_pkcs1_der()
            .ok()
            .and_then(|der| ring::rsa::KeyPair::from_der(der.as_bytes()).ok())
            .map(std::sync::Arc::new);
        Ok(DkimSigner { domain: domain.into(), selector: selector.into(), key, fast, headers })
    }

    /// Signs `extra` headers too (the required ones are always signed).
    pub fn with_headers(mut self, extra: &[&str]) -> DkimSigner {
        for h in extra {
            if !self.headers.iter().any(|x| x.eq_ignore_ascii_case(h)) {
                self.headers.push(h.to_string());
            }
        }
        self
    }

    pub fn domain(&self) -> &str {
        &self.domain
    }

    pub fn selector(&self) -> &str {
        &self.selector
    }

    /// The TXT record to publish at `{selector}._domainkey.{domain}`.
    pub fn dns_record(&self) -> String {
        let der = RsaPublicKey::from(&self.key).to_public_key_der().expect("an RSA public key encodes");
        format!("v=DKIM1; k=rsa; p={}", STANDARD.encode(der.as_bytes()))
    }

    /// Returns `message` with a DKIM-Signature header prepended. `now` is
    /// the signature time (`t=`).
    pub fn sign(&self, message: &[u8], now: Micros) -> Result<Vec<u8>, DeliveryError> {
        let (head, body) = split_message(message);
        let fields = header_fields(head);
        let body_hash = STANDARD.encode(Sha256::digest(canonical_body(body)));

        // Each listed name signs the next unused instance from the bottom.
        let mut used = vec![false; fields.len()];
        let mut hashed = Vec::with_capacity(head.len());
        for name in &self.headers {
            if let Some(i) = (0..fields.len()).rev().find(|&i| !used[i] && fields[i].0.eq_ignore_ascii_case(name)) {
                used[i] = true;
                hashed.extend_from_slice(canonical_header(fields[i].0, fields[i].1).as_bytes());
                hashed.extend_from_slice(b"\r\n");
            }
        }
        let h = self.headers.iter().map(|h| h.to_ascii_lowercase()).collect::<Vec<_>>().join(":");
        let tags = format!(
            "v=1; a=rsa-sha256; c=relaxed/relaxed; d={}; s={}; t={}; h={}; bh={}; b=",
            self.domain,
            self.selector,
            now.div_euclid(1_000_000),
            h,
            body_hash
        );
        let unsigned = fold_tags(&tags);
        hashed.extend_from_slice(canonical_header("DKIM-Signature", &unsigned).as_bytes());
        let signature = match &self.fast {
            Some(pair) => {
                let mut sig = vec![0; pair.public().modulus_len()];
                pair.sign(&ring::signature::RSA_PKCS1_SHA256, &ring::rand::SystemRandom::new(), &hashed, &mut sig)
                    .map_err(|_| DeliveryError::Dkim("signing failed".into()))?;
                sig
            }
            None => self
                .key
                .sign(Pkcs1v15Sign::new::<Sha256>(), &Sha256::digest(&hashed))
                .map_err(|e| DeliveryError::Dkim(format!("signing failed: {e}")))?,
        };
        let b = STANDARD.encode(signature);
        let mut out = Vec::with_capacity(message.len() + unsigned.len() + b.len() + 64);
        out.extend_from_slice(b"DKIM-Signature: ");
        out.extend_from_slice(unsigned.as_bytes());
        // The b= value, folded in pieces: the whitespace is removed with
        // the value itself when a verifier recomputes the hash.
        for (i, chunk) in b.as_bytes().chunks(72).enumerate() {
            if i > 0 {
                out.extend_from_slice(b"\r\n\t");
            }
            out.extend_from_slice(chunk);
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(message);
        Ok(out)
    }
}

/// Splits at the first empty line: (header block with its last CRLF, body).
fn split_message(message: &[u8]) -> (&[u8], &[u8]) {
    match message.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(i) => (&message[..i + 2], &message[i + 4..]),
        None => (message, &[]),
    }
}

/// `(name, value)` of each header field; values keep their folding.
fn header_fields(head: &[u8]) -> Vec<(&str, &str)> {
    let head = std::str::from_utf8(head).unwrap_or("");
    let mut fields: Vec<(usize, usize)> = Vec::new();
    let mut start = 0;
    for (i, _) in head.match_indices("\r\n") {
        let next = head.as_bytes().get(i + 2);
        if !matches!(next, Some(b' ') | Some(b'\t')) {
            fields.push((start, i));
            start = i + 2;
        }
    }
    fields
        .into_iter()
        .filter_map(|(s, e)| head[s..e].split_once(':'))
        .map(|(name, value)| (name.trim_end(), value))
        .collect()
}

/// Relaxed header canonicalization (RFC 6376 §3.4.2), without the CRLF.
fn canonical_header(name: &str, value: &str) -> String {
    let mut out = name.trim().to_ascii_lowercase();
    out.push(':');
    let unfolded = value.replace("\r\n", "");
    let mut space = false;
    for c in unfolded.trim_matches([' ', '\t']).chars() {
        if c == ' ' || c == '\t' {
            space = true;
            continue;
        }
        if space {
            out.push(' ');
            space = false;
        }
        out.push(c);
    }
    out
}

/// Relaxed body canonicalization (RFC 6376 §3.4.4).
fn canonical_body(body: &[u8]) -> Vec<u8> {
    let mut lines: Vec<Vec<u8>> = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        let (line, next) = match rest.windows(2).position(|w| w == b"\r\n") {
            Some(i) => (&rest[..i], &rest[i + 2..]),
            None => (rest, &[][..]),
        };
        let mut out = Vec::with_capacity(line.len());
        let mut space = false;
        for &b in line {
            if b == b' ' || b == b'\t' {
                space = true;
                continue;
            }
            if space {
                out.push(b' ');
                space = false;
            }
            out.push(b);
        }
        lines.push(out);
        rest = next;
    }
    while lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    let mut out = Vec::with_capacity(body.len());
    for l in lines {
        out.extend_from_slice(&l);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Folds the tag list after `;` so no line is much over 78 characters.
fn fold_tags(tags: &str) -> String {
    let mut out = String::with_capacity(tags.len() + 16);
    let mut line = "DKIM-Signature: ".len();
    for (i, tag) in tags.split("; ").enumerate() {
        if i > 0 {
            out.push(';');
            if line + 2 + tag.len() > 78 {
                out.push_str("\r\n\t");
                line = 8;
            } else {
                out.push(' ');
                line += 2;
            }
        }
        out.push_str(tag);
        line += tag.len();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_and_rsa_sign_alike() {
        let pem = include_str!("../tests/fixtures/dkim-test-key.pem");
        let fast = DkimSigner::from_pem("shop.example", "s1", pem).unwrap();
        assert!(fast.fast.is_some(), "a 2048-bit key is signed with ring");
        let slow = DkimSigner { fast: None, ..fast.clone() };
        let message = b"From: a@shop.example\r\nTo: b@x.example\r\nSubject: hi\r\n\r\nbody\r\n";
        // PKCS#1 v1.5 is deterministic: both must give the same bytes.
        assert_eq!(fast.sign(message, 1_000_000).unwrap(), slow.sign(message, 1_000_000).unwrap());
    }

    #[test]
    fn canonicalizes_like_rfc_6376_example() {
        // RFC 6376 §3.4.5.
        assert_eq!(canonical_header("A", " X\r\n"), "a:X");
        assert_eq!(canonical_header("B ", " Y\t\r\n\tZ  \r\n"), "b:Y Z");
        assert_eq!(canonical_body(b" C \r\nD \t E\r\n\r\n\r\n"), b" C\r\nD E\r\n");
        assert_eq!(canonical_body(b""), b"");
        assert_eq!(canonical_body(b"\r\n\r\n"), b"");
        assert_eq!(canonical_body(b"no newline"), b"no newline\r\n");
    }

    #[test]
    fn header_fields_keep_folds() {
        let fields = header_fields(b"A: 1\r\nB: 2\r\n 3\r\nA: 4\r\n");
        assert_eq!(fields, [("A", " 1"), ("B", " 2\r\n 3"), ("A", " 4")]);
    }

    #[test]
    fn folding_is_invisible_to_relaxed_canonicalization() {
        let tags = "v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.com; s=sel; t=1; h=from:to:subject:date:message-id; bh=abc; b=";
        let folded = fold_tags(tags);
        assert!(folded.contains("\r\n\t"));
        assert_eq!(canonical_header("DKIM-Signature", &folded), canonical_header("DKIM-Signature", tags));
    }
}
