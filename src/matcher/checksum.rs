//! Format checks that tell a real token from a string of the right shape.
use crate::rules::Checksum;

pub fn verify(kind: Checksum, secret: &[u8]) -> bool {
    match kind {
        Checksum::Crc32Base62 => crc32_base62(secret),
        Checksum::Jwt => jwt(secret),
    }
}

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The 6-character, zero-padded base62 form of a CRC32, as GitHub and npm append it.
pub fn base62_crc32(data: &[u8]) -> [u8; 6] {
    let mut n = crc32fast::hash(data);
    let mut out = [b'0'; 6];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    out
}

/// `prefix_` + 30 random characters + their base62 CRC32 (GitHub `ghp_…`, npm `npm_…`).
fn crc32_base62(token: &[u8]) -> bool {
    let body = match token.iter().rposition(|&b| b == b'_') {
        Some(i) => &token[i + 1..],
        None => token,
    };
    if body.len() != 36 || !body.iter().all(u8::is_ascii_alphanumeric) {
        return false;
    }
    let (random, check) = body.split_at(30);
    base62_crc32(random) == check
}

/// Three base64url parts whose header decodes to a JSON object naming an `alg`.
fn jwt(token: &[u8]) -> bool {
    let mut parts = token.split(|&b| b == b'.');
    let (Some(header), Some(payload), Some(signature), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let is_b64url = |p: &[u8]| p.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'=');
    if header.is_empty() || payload.is_empty() || !is_b64url(header) || !is_b64url(payload) || !is_b64url(signature) {
        return false;
    }
    let Some(decoded) = crate::matcher::decode::base64_decode(header) else { return false };
    match serde_json::from_slice::<serde_json::Value>(&decoded) {
        Ok(serde_json::Value::Object(map)) => map.get("alg").is_some_and(|a| a.is_string()),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(prefix: &str, random: &str) -> String {
        let check = base62_crc32(random.as_bytes());
        format!("{prefix}{random}{}", std::str::from_utf8(&check).unwrap())
    }

    #[test]
    fn crc32_base62_accepts_right_and_rejects_wrong_checksums() {
        let good = token("ghp_", "Zq8mT3vLk2Rw9XbN4cYp7HsJd1FgUe");
        assert!(verify(Checksum::Crc32Base62, good.as_bytes()));
        let npm = token("npm_", "Zq8mT3vLk2Rw9XbN4cYp7HsJd1FgUe");
        assert!(verify(Checksum::Crc32Base62, npm.as_bytes()));
        let mut bad = good.into_bytes();
        bad[10] = if bad[10] == b'a' { b'b' } else { b'a' };
        assert!(!verify(Checksum::Crc32Base62, &bad));
        assert!(!verify(Checksum::Crc32Base62, b"ghp_short"));
    }

    #[test]
    fn base62_is_zero_padded() {
        // CRC32 of the empty string is 0.
        assert_eq!(&base62_crc32(b""), b"000000");
    }

    #[test]
    fn jwt_structure() {
        // {"alg":"HS256","typ":"JWT"} . {"sub":"1"} . sig
        let ok = b"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl";
        assert!(verify(Checksum::Jwt, ok));
        // header {"typ":"JWT"} has no alg
        assert!(!verify(Checksum::Jwt, b"eyJ0eXAiOiJKV1QifQ.eyJzdWIiOiIxIn0.c2ln"));
        assert!(!verify(Checksum::Jwt, b"eyJhbGciOiJIUzI1NiJ9.only-two"));
        assert!(!verify(Checksum::Jwt, b"not!base64.eyJzdWIiOiIxIn0.c2ln"));
    }
}
