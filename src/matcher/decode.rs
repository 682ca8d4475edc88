//! Views of a blob with an encoding undone, so that secrets hidden by base64, string escapes,
//! percent-encoding or UTF-16 are matched too.
//!
//! Decoding must not make clean files slow, so only candidates are decoded: base64 runs long
//! enough to hold a credential whose first bytes decode to text, and lines that hold both an
//! escape (or a `%XX`) and one of the rules' keywords. Each view remembers the span of the blob it
//! came from; a finding in it is reported there, at the line where the encoded text sits.

use std::ops::Range;

/// How a view was decoded; shown in findings as `encoding`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Encoding {
    Base64,
    /// JSON and other string escapes: `\n`, `\/`, `\"`, `\uXXXX`, …
    Escapes,
    Percent,
    Utf16,
}

/// Decoded text and the span of the original blob it came from.
pub struct View {
    pub bytes: Vec<u8>,
    pub origin: Range<usize>,
    pub encoding: Encoding,
}

/// The shortest base64 run decoded: 16 characters hold 12 bytes, less than any credential
/// worth reporting from inside an encoding.
const MIN_BASE64_RUN: usize = 16;
/// A decoded blob never costs more than this much extra matching.
const MAX_DECODED_BYTES: usize = 4 << 20;

/// The byte order of UTF-16 text, and the length of its byte-order mark (0 or 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Utf16 {
    pub bom: usize,
    pub little: bool,
}

/// Whether `hay` is UTF-16 text: it opens with a byte-order mark, or every other byte of its start
/// is NUL; and its first code units are largely ASCII, as text that can hold a credential is.
pub fn utf16_order(hay: &[u8]) -> Option<Utf16> {
    let order = match hay {
        [0xFF, 0xFE, ..] => Utf16 { bom: 2, little: true },
        [0xFE, 0xFF, ..] => Utf16 { bom: 2, little: false },
        _ => {
            let head = &hay[..hay.len().min(512) & !1];
            // Text without a NUL near its start is not UTF-16: answered without counting.
            if head.len() < 8 || memchr::memchr(0, head).is_none() {
                return None;
            }
            let zeros_odd = head.iter().skip(1).step_by(2).filter(|&&b| b == 0).count();
            let zeros_even = head.iter().step_by(2).filter(|&&b| b == 0).count();
            let half = head.len() / 2;
            if zeros_odd * 10 >= half * 9 && zeros_even == 0 {
                Utf16 { bom: 0, little: true }
            } else if zeros_even * 10 >= half * 9 && zeros_odd == 0 {
                Utf16 { bom: 0, little: false }
            } else {
                return None;
            }
        }
    };
    // Bytes that only start like a byte-order mark (invalid UTF-8 or binary) decode to a scatter of
    // unrelated code points.
    let sample: Vec<u16> = utf16_units(&hay[order.bom..], order.little).take(256).collect();
    if sample.iter().filter(|&&u| u < 0x80).count() * 3 < sample.len() {
        return None;
    }
    Some(order)
}

fn utf16_units(body: &[u8], little: bool) -> impl Iterator<Item = u16> + Clone + '_ {
    body.chunks_exact(2)
        .map(move |c| if little { u16::from_le_bytes([c[0], c[1]]) } else { u16::from_be_bytes([c[0], c[1]]) })
}

/// `body` (UTF-16 without its byte-order mark) transcoded to UTF-8; unpaired surrogates become
/// U+FFFD. Lines stay the same lines.
pub fn utf16_decode(body: &[u8], little: bool) -> Vec<u8> {
    let text: String =
        char::decode_utf16(utf16_units(body, little)).map(|r| r.unwrap_or(char::REPLACEMENT_CHARACTER)).collect();
    text.into_bytes()
}

/// The text of a UTF-16 file (see [`utf16_order`]), transcoded to UTF-8.
pub fn utf16_text(hay: &[u8]) -> Option<Vec<u8>> {
    let order = utf16_order(hay)?;
    Some(utf16_decode(&hay[order.bom..], order.little))
}

const BASE64_BYTES: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'-' | b'_');
        b += 1;
    }
    t
};

fn is_base64_byte(b: u8) -> bool {
    BASE64_BYTES[b as usize]
}

/// The value of a standard or URL-safe base64 character.
pub(crate) fn base64_value(b: u8) -> Option<u8> {
    Some(match b {
        b'A'..=b'Z' => b - b'A',
        b'a'..=b'z' => b - b'a' + 26,
        b'0'..=b'9' => b - b'0' + 52,
        b'+' | b'-' => 62,
        b'/' | b'_' => 63,
        _ => return None,
    })
}

/// Decodes standard or URL-safe base64 (both alphabets: JWTs use the URL-safe one, PEM and SSH
/// the standard one), padded or not, skipping whitespace and line breaks. Stops at the first `=`;
/// any other foreign byte makes the whole input invalid.
pub(crate) fn base64_decode(input: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(input.len() / 4 * 3 + 3);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for &b in input {
        if b.is_ascii_whitespace() {
            continue;
        }
        if b == b'=' {
            break;
        }
        acc = (acc << 6) | u32::from(base64_value(b)?);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

fn is_text(bytes: &[u8]) -> bool {
    !bytes.is_empty() && bytes.iter().all(|&b| (0x20..0x7f).contains(&b) || matches!(b, b'\n' | b'\r' | b'\t'))
}

/// Base64 runs that decode to text. A run that is all hex digits (a hash), all letters (a word or
/// identifier) or the header of a JWT (`eyJ`, matched as a JWT already) is not decoded.
pub fn base64_views(hay: &[u8], out: &mut Vec<View>) {
    let mut budget = MAX_DECODED_BYTES;
    for run in long_base64_runs(hay) {
        let text = &hay[run.clone()];
        // The first 8 characters decide cheaply whether the rest is worth decoding.
        if text.starts_with(b"eyJ") || !base64_decode(&text[..8]).is_some_and(|d| is_text(&d)) {
            continue;
        }
        if text.iter().all(u8::is_ascii_hexdigit) || text.iter().all(u8::is_ascii_alphabetic) {
            continue;
        }
        // One character past a multiple of four carries no whole byte.
        let usable = if text.len() % 4 == 1 { &text[..text.len() - 1] } else { text };
        let Some(decoded) = base64_decode(usable) else { continue };
        if decoded.len() > budget || !is_text(&decoded) {
            continue;
        }
        budget -= decoded.len();
        out.push(View { bytes: decoded, origin: run, encoding: Encoding::Base64 });
    }
}

/// The maximal runs of base64 characters at least [`MIN_BASE64_RUN`] long.
///
/// Identifiers, words and paths make most of a source file base64 characters, so looking at each
/// byte is what this costs; it classifies 64 bytes at a time into a bit mask instead, and a run of
/// 16 set bits is found with four shifts.
fn long_base64_runs(hay: &[u8]) -> impl Iterator<Item = Range<usize>> + '_ {
    const _: () = assert!(MIN_BASE64_RUN == 16, "runs_of_16 looks for exactly 16");
    let mut at = 0;
    std::iter::from_fn(move || {
        while at < hay.len() {
            let block = &hay[at..hay.len().min(at + 64)];
            let starts = runs_of_16(base64_mask(block));
            // A run starting in the last 15 bytes of the block is seen whole from the next one.
            let seen = starts & ((1 << 49) - 1);
            if seen == 0 {
                if block.len() < 64 {
                    at = hay.len();
                    return None;
                }
                at += 49;
                continue;
            }
            // Every run starting before `at` was either short or was returned: this bit is the
            // start of a new run, not the middle of an old one.
            let start = at + seen.trailing_zeros() as usize;
            let mut end = start + MIN_BASE64_RUN;
            loop {
                let rest = &hay[end..hay.len().min(end + 64)];
                let ones = base64_mask(rest).trailing_ones() as usize;
                end += ones;
                if ones < 64 {
                    break;
                }
            }
            at = end;
            return Some(start..end);
        }
        None
    })
}

/// Bit `i` set when bits `i..i + 16` of `mask` are all set.
fn runs_of_16(mask: u64) -> u64 {
    let mut m = mask & (mask >> 1);
    m &= m >> 2;
    m &= m >> 4;
    m & (m >> 8)
}

/// Bit `i` set when `block[i]` is a base64 character (standard or URL-safe); `block` holds at
/// most 64 bytes.
fn base64_mask(block: &[u8]) -> u64 {
    let mut mask = 0;
    for (i, chunk) in block.chunks(16).enumerate() {
        let bits = match <[u8; 16]>::try_from(chunk) {
            Ok(full) => base64_mask_16_checked(full),
            Err(_) => chunk.iter().enumerate().fold(0, |m, (j, &b)| m | u32::from(is_base64_byte(b)) << j),
        };
        mask |= u64::from(bits) << (16 * i);
    }
    mask
}

#[cfg(target_arch = "x86_64")]
fn base64_mask_16_checked(chunk: [u8; 16]) -> u32 {
    // SAFETY: SSE2 is part of the x86_64 baseline: every x86_64 processor has it.
    unsafe { base64_mask_16(chunk) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse2")]
fn base64_mask_16(chunk: [u8; 16]) -> u32 {
    use std::arch::x86_64::*;
    let lo = i64::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3], chunk[4], chunk[5], chunk[6], chunk[7]]);
    let hi = i64::from_le_bytes([chunk[8], chunk[9], chunk[10], chunk[11], chunk[12], chunk[13], chunk[14], chunk[15]]);
    let v = _mm_set_epi64x(hi, lo);
    // `x - lo <= span` as unsigned bytes: the minimum of the two equals the difference.
    let within = |x: __m128i, lo: u8, span: u8| {
        let d = _mm_sub_epi8(x, _mm_set1_epi8(lo as i8));
        _mm_cmpeq_epi8(_mm_min_epu8(d, _mm_set1_epi8(span as i8)), d)
    };
    let is = |b: u8| _mm_cmpeq_epi8(v, _mm_set1_epi8(b as i8));
    let digit = within(v, b'0', 9);
    let letter = within(_mm_or_si128(v, _mm_set1_epi8(0x20)), b'a', 25);
    let marks = _mm_or_si128(_mm_or_si128(is(b'+'), is(b'/')), _mm_or_si128(is(b'-'), is(b'_')));
    _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(digit, letter), marks)) as u32
}

#[cfg(not(target_arch = "x86_64"))]
fn base64_mask_16_checked(chunk: [u8; 16]) -> u32 {
    chunk.iter().enumerate().fold(0, |m, (j, &b)| m | u32::from(is_base64_byte(b)) << j)
}

/// The line of `hay` containing `at`.
fn line_around(hay: &[u8], at: usize) -> Range<usize> {
    let start = memchr::memrchr(b'\n', &hay[..at]).map_or(0, |p| p + 1);
    let end = memchr::memchr(b'\n', &hay[at..]).map_or(hay.len(), |p| at + p);
    start..end
}

/// Lines holding an escape (`\n`, `\/`, `\uXXXX`, …) or a percent-encoded byte, decoded, kept when
/// the decoded line holds a keyword (which the encoding may have hidden: `ghp%5F`).
pub fn line_views(hay: &[u8], has_keyword: impl Fn(&[u8]) -> bool, out: &mut Vec<View>) {
    let mut budget = MAX_DECODED_BYTES;
    let mut next_line = 0;
    for at in memchr::memchr2_iter(b'\\', b'%', hay) {
        if at < next_line {
            continue;
        }
        let line = line_around(hay, at);
        next_line = line.end + 1;
        let text = &hay[line.clone()];
        if text.len() > budget {
            continue;
        }
        for (decoded, encoding) in [(unescape(text), Encoding::Escapes), (percent_decode(text), Encoding::Percent)] {
            if let Some(bytes) = decoded.filter(|d| has_keyword(d)) {
                budget = budget.saturating_sub(bytes.len());
                out.push(View { bytes, origin: line.clone(), encoding });
            }
        }
    }
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// String escapes undone; `None` when there were none.
pub fn unescape(text: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len());
    let mut changed = false;
    let mut i = 0;
    while i < text.len() {
        let b = text[i];
        if b != b'\\' || i + 1 == text.len() {
            out.push(b);
            i += 1;
            continue;
        }
        let next = text[i + 1];
        let simple = match next {
            b'n' => Some(b'\n'),
            b'r' => Some(b'\r'),
            b't' => Some(b'\t'),
            b'/' | b'"' | b'\'' | b'\\' => Some(next),
            _ => None,
        };
        if let Some(c) = simple {
            out.push(c);
            i += 2;
            changed = true;
            continue;
        }
        if (next == b'u' || next == b'x') && i + 2 < text.len() {
            let digits = if next == b'u' { 4 } else { 2 };
            let code = text
                .get(i + 2..i + 2 + digits)
                .and_then(|d| d.iter().try_fold(0u32, |acc, &c| hex(c).map(|v| acc * 16 + u32::from(v))));
            if let Some(ch) = code.and_then(char::from_u32) {
                let mut buf = [0u8; 4];
                out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                i += 2 + digits;
                changed = true;
                continue;
            }
        }
        out.push(b);
        i += 1;
    }
    changed.then_some(out)
}

/// `%XX` sequences decoded; `None` when there were none.
pub fn percent_decode(text: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len());
    let mut changed = false;
    let mut i = 0;
    while i < text.len() {
        if text[i] == b'%' {
            if let (Some(h), Some(l)) = (text.get(i + 1).and_then(|&c| hex(c)), text.get(i + 2).and_then(|&c| hex(c))) {
                out.push(h * 16 + l);
                i += 3;
                changed = true;
                continue;
            }
        }
        out.push(text[i]);
        i += 1;
    }
    changed.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_of_text_is_decoded_and_hashes_are_not() {
        let mut v = Vec::new();
        let encoded = "dG9rZW49Z2hwX2FiY2RlZmdoaWprbG1ub3BxcnN0dXZ3eHl6MDEyMzQ1Njc4OQ==";
        base64_views(format!("data:\n  token: {encoded}\n").as_bytes(), &mut v);
        assert_eq!(v.len(), 1);
        assert!(v[0].bytes.starts_with(b"token=ghp_"));
        v.clear();
        base64_views(b"sha = 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\n", &mut v);
        assert!(v.is_empty());
        base64_views(
            b"iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==",
            &mut v,
        );
        assert!(v.is_empty(), "binary (a PNG) is not text");
    }

    #[test]
    fn long_runs_are_the_maximal_runs_of_sixteen_or_more() {
        let alphabet = b"aZ09+/-_ \n.=:\"";
        let mut next = crate::matcher::below(0x2545_F491_4F6C_DD1D);
        for _ in 0..3_000 {
            let mut hay = Vec::new();
            for _ in 0..next(12) {
                let len = [1, 5, 15, 16, 17, 40, 63, 64, 65, 130][next(10)];
                let byte = alphabet[next(alphabet.len())];
                let run_of_base64 = is_base64_byte(byte);
                for _ in 0..len {
                    let b = if run_of_base64 { alphabet[next(8)] } else { byte };
                    hay.push(b);
                }
            }
            let mut expected = Vec::new();
            let mut i = 0;
            while i < hay.len() {
                let start = i;
                while i < hay.len() && is_base64_byte(hay[i]) {
                    i += 1;
                }
                if i - start >= MIN_BASE64_RUN {
                    expected.push(start..i);
                }
                i += 1;
            }
            assert_eq!(long_base64_runs(&hay).collect::<Vec<_>>(), expected, "{}", String::from_utf8_lossy(&hay));
            for (b, chunk) in hay.chunks(16).enumerate() {
                if let Ok(full) = <[u8; 16]>::try_from(chunk) {
                    let scalar = full.iter().enumerate().fold(0, |m, (j, &c)| m | u32::from(is_base64_byte(c)) << j);
                    assert_eq!(base64_mask_16_checked(full), scalar, "chunk {b}");
                }
            }
        }
    }

    #[test]
    fn escapes_and_percent_are_undone() {
        assert_eq!(unescape(br#"a\nb\/c\u0041"#).unwrap(), b"a\nb/cA");
        assert_eq!(unescape(b"plain"), None);
        assert_eq!(percent_decode(b"p%40ss%2Fw").unwrap(), b"p@ss/w");
        assert_eq!(percent_decode(b"100%"), None);
    }

    #[test]
    fn utf16_is_transcoded_with_or_without_bom() {
        let text = "key = value\nline two\n";
        let mut le: Vec<u8> = vec![0xFF, 0xFE];
        le.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
        assert_eq!(utf16_text(&le).unwrap(), text.as_bytes());
        let be: Vec<u8> = text.encode_utf16().flat_map(u16::to_be_bytes).collect();
        assert_eq!(utf16_text(&be).unwrap(), text.as_bytes());
        assert_eq!(utf16_text(text.as_bytes()), None);
    }
}
