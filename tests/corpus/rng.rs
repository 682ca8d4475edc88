//! A tiny deterministic generator and the encodings the corpus needs. Every planted value is built
//! from this at run time, so no live-looking secret is ever committed.
#![allow(dead_code)]

pub const ALNUM: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
pub const LOWER_ALNUM: &str = "abcdefghijklmnopqrstuvwxyz0123456789";
pub const UPPER_ALNUM: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
pub const HEX: &str = "0123456789abcdef";
pub const UPPER_HEX: &str = "0123456789ABCDEF";
pub const DIGITS: &str = "0123456789";
pub const B64: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
pub const B64URL: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
pub const UPPER32: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
pub const BECH32: &str = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
pub const LETTERS: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// splitmix64: small, fast, and good enough for test data.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x6b65_7974_7261_696c)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    pub fn range(&mut self, lo: usize, hi_inclusive: usize) -> usize {
        lo + self.below(hi_inclusive - lo + 1)
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    pub fn s(&mut self, alphabet: &str, n: usize) -> String {
        let a = alphabet.as_bytes();
        (0..n).map(|_| a[self.below(a.len())] as char).collect()
    }

    pub fn alnum(&mut self, n: usize) -> String {
        self.s(ALNUM, n)
    }
    pub fn hex(&mut self, n: usize) -> String {
        self.s(HEX, n)
    }
    pub fn digits(&mut self, n: usize) -> String {
        // no leading zero, as ids rarely have one
        let mut d = self.s("123456789", 1);
        d.push_str(&self.s(DIGITS, n - 1));
        d
    }
    pub fn b64(&mut self, n: usize) -> String {
        self.s(B64, n)
    }
    pub fn b64url(&mut self, n: usize) -> String {
        self.s(B64URL, n)
    }
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next_u64() as u8).collect()
    }

    pub fn uuid(&mut self) -> String {
        let h = self.hex(32);
        let v = self.s("89ab", 1);
        format!("{}-{}-4{}-{}{}-{}", &h[0..8], &h[8..12], &h[13..16], v, &h[17..20], &h[20..32])
    }

    /// A password a person or a generator would pick: letters, digits and a few symbols.
    pub fn password(&mut self) -> String {
        let n = self.range(14, 22);
        let mut p = self.alnum(n);
        let sym = ["!", "#", "%", "*", "-", "_", "+", "."];
        for _ in 0..2 {
            let at = self.below(p.len());
            let s = *self.pick(&sym);
            p.replace_range(at..at + 1, s);
        }
        p.push_str(&self.digits(2));
        p
    }

    /// A password with characters that must be percent-encoded in a URL.
    pub fn url_password(&mut self) -> (String, String) {
        let n = self.range(10, 14);
        let mut raw = self.alnum(n);
        raw.insert(3, '@');
        raw.insert(7, '/');
        raw.push('#');
        raw.push_str(&self.digits(3));
        (raw.clone(), percent_encode(&raw))
    }

    /// A GitHub-style token: prefix + 30 random chars + base62 CRC32 of those 30.
    pub fn crc_token(&mut self, prefix: &str) -> String {
        let body = self.alnum(30);
        format!("{prefix}{body}{}", base62_crc32(body.as_bytes()))
    }

    /// Same shape with a checksum that does not match.
    pub fn crc_token_bad(&mut self, prefix: &str) -> String {
        let body = self.alnum(30);
        let good = base62_crc32(body.as_bytes());
        let mut bad: Vec<u8> = good.into_bytes();
        bad[5] = if bad[5] == b'Q' { b'R' } else { b'Q' };
        format!("{prefix}{body}{}", String::from_utf8(bad).unwrap())
    }

    /// PEM base64 body of `total` characters starting with a DER prefix, wrapped at `width`.
    pub fn pem_body(&mut self, der_prefix: &str, total: usize, width: usize, pad: bool) -> Vec<String> {
        let mut body = der_prefix.to_string();
        let rest = total - der_prefix.len() - if pad { 1 } else { 0 };
        body.push_str(&self.b64(rest));
        if pad {
            body.push('=');
        }
        body.as_bytes().chunks(width).map(|c| String::from_utf8(c.to_vec()).unwrap()).collect()
    }
}

pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

pub fn base62_crc32(data: &[u8]) -> String {
    const B62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut n = crc32(data);
    let mut out = [b'0'; 6];
    for slot in out.iter_mut().rev() {
        *slot = B62[(n % 62) as usize];
        n /= 62;
    }
    String::from_utf8(out.to_vec()).unwrap()
}

fn b64_with(data: &[u8], alphabet: &[u8], pad: bool) -> String {
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        let chars = chunk.len() + 1;
        for i in 0..4 {
            if i < chars {
                out.push(alphabet[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else if pad {
                out.push('=');
            }
        }
    }
    out
}

pub fn b64encode(data: &[u8]) -> String {
    b64_with(data, B64.as_bytes(), true)
}

pub fn b64url(data: &[u8]) -> String {
    b64_with(data, B64URL.as_bytes(), false)
}

pub fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

pub fn sha_hex(rng: &mut Rng, n: usize) -> String {
    rng.hex(n)
}
