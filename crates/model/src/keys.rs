//! API keys. Keys are 256-bit random tokens, so a plain SHA-256 is a sound way
//! to store them: there is nothing to brute-force that a slow hash would protect.

use crate::ids::KeyKind;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Makes a new random key, prefixed by its kind so a leaked key is recognisable.
pub fn generate(kind: KeyKind) -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let prefix = match kind {
        KeyKind::Write => "tdw_",
        KeyKind::Admin => "tda_",
    };
    format!("{prefix}{}", hex::encode(bytes))
}

/// The form in which a key is stored and looked up.
pub fn hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_random_and_hash_stably() {
        let a = generate(KeyKind::Write);
        let b = generate(KeyKind::Write);
        assert_ne!(a, b);
        assert!(a.starts_with("tdw_") && a.len() == 68);
        assert_eq!(hash(&a), hash(&a));
        assert_ne!(hash(&a), hash(&b));
        assert!(generate(KeyKind::Admin).starts_with("tda_"));
    }
}
