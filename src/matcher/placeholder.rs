//! Values that have a credential's shape but are not credentials: documented examples, template
//! placeholders and references to where the real secret lives. These are never findings, whatever
//! rule matched them, because every peer's users list them as their most common false alarm.

/// Values published in vendor documentation as examples.
const DOCUMENTED_EXAMPLES: &[&[u8]] = &[
    b"AKIAIOSFODNN7EXAMPLE",
    b"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    b"je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY",
    b"AKIAI44QH8DHBEXAMPLE",
    b"sk_test_4eC39HqLyjWDarjtT1zdp7dc",
    b"sk_test_BQokikJOvBiI2HlWgH4olfQ2",
    // The Azurite storage emulator's well-known account key.
    b"Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==",
    // jwt.io's sample token.
    b"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
];

/// Whole values that name a secret instead of being one (`password = "password"`).
const STAND_IN_VALUES: &[&[u8]] = &[
    b"password",
    b"passwd",
    b"pass",
    b"pwd",
    b"secret",
    b"token",
    b"apikey",
    b"api_key",
    b"api-key",
    b"test",
    b"testing",
    b"foo",
    b"bar",
    b"foobar",
    b"null",
    b"none",
    b"nil",
    b"undefined",
    b"true",
    b"false",
    b"string",
    b"value",
    b"admin",
    b"root",
    b"user",
    b"username",
    b"default",
    b"required",
];

/// Words that, inside a secret, mark it as a stand-in (compared case-insensitively).
const PLACEHOLDER_WORDS: &[&[u8]] = &[
    b"example",
    b"changeme",
    b"change_me",
    b"change-me",
    b"replace_me",
    b"replaceme",
    b"replace-me",
    b"placeholder",
    b"your_",
    b"your-",
    b"yourtoken",
    b"yourkey",
    b"yourpassword",
    b"yoursecret",
    b"insert_",
    b"insert-",
    b"redacted",
    b"dummy",
    b"notreal",
    b"not_real",
    b"not-a-real",
    b"fake_",
    b"fake-",
    b"_fake",
    b"xxxx",
    b"****",
    b"....",
    b"<secret",
    b"<token",
    b"<password",
    b"<your",
    b"0123456789",
    b"1234567890",
    b"abcdefghij",
];

/// Markers of a template expression or an indirection to the real value.
const REFERENCE_MARKERS: &[&[u8]] = &[
    b"${",
    b"{{",
    b"}}",
    b"$(",
    b"%(",
    b"#{",
    b"process.env",
    b"os.environ",
    b"os.getenv",
    b"getenv(",
    b"env(",
    b"env[",
    b"environ[",
    b"secrets.",
    b"vault:",
    b"ssm:",
    b"secretsmanager:",
];

/// True when `secret` is a documented example, a placeholder, or a reference to the real secret.
pub fn is_placeholder(secret: &[u8]) -> bool {
    if secret.is_empty() {
        return true;
    }
    if DOCUMENTED_EXAMPLES.contains(&secret) {
        return true;
    }
    let lower = secret.to_ascii_lowercase();
    if STAND_IN_VALUES.contains(&lower.as_slice()) {
        return true;
    }
    if PLACEHOLDER_WORDS.iter().chain(REFERENCE_MARKERS).any(|w| contains(&lower, w)) {
        return true;
    }
    if is_variable_reference(secret) || is_bracketed_name(secret) {
        return true;
    }
    is_monotonous(secret)
}

/// For context-matched (generic) rules only: values that sit where a password would, but are
/// words, identifiers, paths, hashes or UUIDs rather than secrets. Vendor formats are precise
/// enough not to need this.
pub fn is_implausible_generic(value: &[u8]) -> bool {
    let letters_only = value.iter().all(|b| b.is_ascii_alphabetic() || *b == b'_' || *b == b'-' || *b == b'.');
    let ends_like_label = matches!(value.last(), Some(b':') | Some(b'?') | Some(b'!'))
        && value[..value.len() - 1].iter().all(u8::is_ascii_alphabetic);
    let is_hex = value.iter().all(u8::is_ascii_hexdigit);
    let hash_len = matches!(value.len(), 32 | 40 | 56 | 64 | 96 | 128);
    let uuid = value.len() == 36
        && value
            .iter()
            .enumerate()
            .all(|(i, b)| if [8, 13, 18, 23].contains(&i) { *b == b'-' } else { b.is_ascii_hexdigit() });
    let path_or_url =
        value.starts_with(b"/") || value.starts_with(b"./") || value.starts_with(b"../") || contains(value, b"://");
    let call = contains(value, b"(") || contains(value, b"->") || value.starts_with(b"$");
    // `secret: Range<usize>,` in a struct, `token: Option<String>;`: a type, not a value.
    let code = (contains(value, b"<") && contains(value, b">")) || matches!(value.last(), Some(b',') | Some(b';'));
    letters_only || ends_like_label || (is_hex && hash_len) || uuid || path_or_url || call || code
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    memchr::memmem::find(hay, needle).is_some()
}

/// `$TOKEN`, `${TOKEN}`, `%TOKEN%`, `$env:TOKEN`.
fn is_variable_reference(s: &[u8]) -> bool {
    let ident = |b: &[u8]| !b.is_empty() && b.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'_' || c == b':');
    match s {
        [b'$', rest @ ..] => ident(rest.strip_prefix(b"{").and_then(|r| r.strip_suffix(b"}")).unwrap_or(rest)),
        [b'%', inner @ .., b'%'] => ident(inner),
        _ => false,
    }
}

/// `<token>`, `[API_KEY]`, `{password}` (a format-string field), `%s`: a slot for a value
/// rather than a value.
fn is_bracketed_name(s: &[u8]) -> bool {
    s == b"%s"
        || matches!(
            (s.first(), s.last()),
            (Some(b'<'), Some(b'>')) | (Some(b'['), Some(b']')) | (Some(b'{'), Some(b'}'))
        )
        || holds_format_field(s)
}

/// A format-string field inside the value (`pscale_pw_{pw}`, `{}`, `{0}`, `{user.token}`): the
/// text is a template that code fills in, not a credential.
fn holds_format_field(s: &[u8]) -> bool {
    let mut rest = s;
    while let Some(open) = memchr::memchr(b'{', rest) {
        let after = &rest[open + 1..];
        let Some(close) = memchr::memchr(b'}', after) else { return false };
        let inside = &after[..close];
        if inside.len() <= 32 && inside.iter().all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':')) {
            return true;
        }
        rest = &after[close + 1..];
    }
    false
}

/// A run of one character making up most of a value (`sk_live_0000…`), a run of 8 in a
/// token-sized one, or a value made of two or fewer distinct characters.
fn is_monotonous(s: &[u8]) -> bool {
    let mut longest = 0usize;
    let mut run = 0usize;
    let mut prev = None;
    for &b in s {
        if Some(b) == prev {
            run += 1;
        } else {
            run = 1;
            prev = Some(b);
        }
        longest = longest.max(run);
    }
    // An absolute run limit only makes sense for token-sized values: long key material (an
    // OpenSSH key's `AAAAAAAA…` headers) legitimately holds long runs.
    if s.len() >= 8 && (longest * 2 >= s.len() || (s.len() <= 64 && longest >= 8)) {
        return true;
    }
    let mut seen = [false; 256];
    let distinct = s.iter().filter(|&&b| !std::mem::replace(&mut seen[b as usize], true)).count();
    s.len() >= 6 && distinct <= 2
}

#[cfg(test)]
mod tests {
    use super::is_placeholder;

    #[test]
    fn placeholders_are_recognised() {
        for p in [
            "AKIAIOSFODNN7EXAMPLE",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "xxxxxxxxxxxxxxxxxxxx",
            "ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
            "<YOUR_TOKEN>",
            "${TOKEN}",
            "$GITHUB_TOKEN",
            "%API_KEY%",
            "{{ secrets.NPM_TOKEN }}",
            "changeme",
            "your_api_key_here",
            "sk_live_00000000000000000000000000",
            "process.env.STRIPE_KEY",
            "os.environ['DB_PASSWORD']",
            "{db_password}",
            "%s",
            "",
        ] {
            assert!(is_placeholder(p.as_bytes()), "{p:?} should be a placeholder");
        }
    }

    #[test]
    fn implausible_generic_values() {
        use super::is_implausible_generic as f;
        for v in [
            "Password:",
            "secretName",
            "d41d8cd98f00b204e9800998ecf8427e",
            "0b1e0f7e-3c5a-4d6b-9e8f-7a6b5c4d3e2f",
            "/etc/app/secret",
            "getPassword()",
            "$DB_PASS",
        ] {
            assert!(f(v.as_bytes()), "{v}");
        }
        for v in ["hunter2!Sx9", "Zq8mT3vLk2Rw9XbN", "s3cr3t-P4ss"] {
            assert!(!f(v.as_bytes()), "{v}");
        }
    }

    #[test]
    fn real_looking_values_are_not() {
        let aws_id = format!("AKIA{}", "Q3EGUIVNJ2W6TZ4B");
        for s in ["Zq8mT3vLk2Rw9XbN4cYp7HsJd1FgUe", "hunter2!Sx9", aws_id.as_str(), "p@ssW0rd-Kx7q"] {
            assert!(!is_placeholder(s.as_bytes()), "{s:?} should not be a placeholder");
        }
    }
}
