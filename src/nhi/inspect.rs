//! Offline inspection of a found secret: which identity it is, read off the secret and the text
//! around it without contacting anyone. An AWS key id encodes its account, a GCP key file names its
//! service account, a JWT carries its issuer and subject, a private key its algorithm and size, a
//! database URL its user and host.
//!
//! Everything here runs on hostile files. Every read is bounds-checked, every parse gives up
//! quietly (returns `None`) instead of failing, and values taken from the input are cut to a
//! display length and stripped of control characters before they reach a report.

use crate::matcher::decode::base64_decode;
use std::collections::BTreeMap;
use std::ops::Range;

use serde_json::Value;

/// What can be read off a secret and its surroundings without contacting anyone.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Inspection {
    /// One-line summary naming the identity, never containing the secret, e.g.
    /// `aws:123456789012:AKIA…7XYZ`, `gcp:deploy-bot@proj.iam.gserviceaccount.com`,
    /// `github:classic-pat`, `postgres://app@db.internal/orders`, `jwt:iss=https://auth.example.com;sub=svc-billing`.
    pub identifier: Option<String>,
    /// Full public identifiers an inventory may list to link this secret: AWS access key ids
    /// (AKIA…/ASIA…, the whole 20 chars), GCP service-account emails and private_key_id, a JWT's
    /// `iss`+`sub` as "iss/sub", a database URL without its password (`postgres://app@db.internal:5432/orders`).
    pub public_ids: Vec<String>,
    /// Facts, as snake_case key → display value. Keys used (only when known):
    /// key_type ("long-term"|"temporary"), account_id, client_email, project_id, private_key_id,
    /// token_type, iss, sub, aud, iat, exp (unix seconds as decimal text), algorithm, bits, curve,
    /// encrypted ("true"|"false"), user, host, port, database, scheme.
    pub details: BTreeMap<String, String>,
    /// True for temporary credentials: AWS ASIA ids / session tokens, a JWT whose exp - iat is at
    /// most 24 hours, GitHub installation tokens (ghs_, 1 hour), Slack refresh-rotated tokens (xoxe.).
    pub short_lived: bool,
    /// Expiry as unix seconds, when the secret says (JWT exp).
    pub expires: Option<i64>,
}

/// `rule_id`, `provider` and `kind` are the matching rule's (kind is the snake_case NHI kind, e.g.
/// "cloud_access_key", "private_key", "database_credential", "session_token"); `secret` is the
/// matched bytes; `context` is the blob around it (up to a few KiB either side) and `at` the
/// secret's span inside `context`.
pub fn inspect(
    rule_id: &str,
    provider: &str,
    kind: &str,
    secret: &[u8],
    context: &[u8],
    at: Range<usize>,
) -> Inspection {
    // A span that does not fit the context (reversed, or past its end) is clamped rather than
    // trusted, so every later slice of `context` around it stays in bounds.
    let end = at.end.min(context.len());
    let start = at.start.min(end);
    let cx = Cx { rule_id, provider, kind, secret, context, at: start..end };
    let mut out = Inspection::default();

    // The most specific reader runs first and names the identity; later ones only add facts.
    match provider {
        "aws" => aws(&cx, &mut out),
        "gcp" if rule_id.contains("service-account") => gcp_service_account(&cx, &mut out),
        _ => {}
    }
    if let Some(jwt) = embedded_jwt(secret).as_deref().and_then(Jwt::parse) {
        jwt.apply(&mut out);
    }
    if kind == "private_key" || (provider == "gcp" && rule_id.contains("service-account")) {
        if let Some(key) = KeyInfo::read(secret) {
            key.apply(&mut out);
        }
    }
    // A database credential is named by its connection; any other token found inside a URL
    // (`https://x-access-token:ghp_…@github.com`) is named by its own prefix first.
    let db_first = kind == "database_credential";
    if db_first {
        if let Some(db) = database(&cx) {
            db.apply(&mut out);
        }
    }
    apply_prefix(&cx, &mut out);
    if !db_first && out.identifier.is_none() {
        if let Some(db) = database(&cx) {
            db.apply(&mut out);
        }
    }
    finish(&cx, &mut out);
    out
}

struct Cx<'a> {
    rule_id: &'a str,
    provider: &'a str,
    kind: &'a str,
    secret: &'a [u8],
    context: &'a [u8],
    at: Range<usize>,
}

/// Longest value kept from the input; a hostile file could otherwise put megabytes into one
/// report line through a JWT claim or a host name.
const MAX_VALUE: usize = 256;

/// Expiry times a report can print as a date (1970 through 9999). A hostile token may claim
/// `exp: 1e300` or a negative time; that stays visible in `details["exp"]` but is not passed on as
/// an expiry for date arithmetic downstream.
const PLAUSIBLE_TIME: std::ops::RangeInclusive<i64> = 0..=253_402_300_799;

/// A secret shorter than this is not looked for in the output: three-letter passwords occur by
/// chance inside host and user names, and hiding those would hide the identity for no gain.
const MIN_GUARDED_SECRET: usize = 4;

fn finish(cx: &Cx, out: &mut Inspection) {
    if out.identifier.is_none() {
        out.identifier = Some(format!("{}:{}", cx.provider, cx.rule_id));
    }
    out.identifier = out.identifier.as_deref().map(clean);
    out.public_ids = out.public_ids.iter().map(|s| clean(s)).collect();
    out.public_ids.dedup();
    for value in out.details.values_mut() {
        *value = clean(value);
    }

    // Last line of defence for "never contains the secret": a user equal to the password, or a
    // claim that repeats the token, must not leak it through the summary.
    let secret = String::from_utf8_lossy(cx.secret.trim_ascii()).into_owned();
    if secret.len() >= MIN_GUARDED_SECRET {
        if out.identifier.as_deref().is_some_and(|id| id.contains(&secret)) {
            out.identifier = Some(clean(&format!("{}:{}", cx.provider, cx.rule_id)));
        }
        out.details.retain(|_, v| !v.contains(&secret));
        // An AWS key id is both the matched secret and the public name an inventory lists it by.
        out.public_ids.retain(|p| !p.contains(&secret) || is_aws_key_id(p.as_bytes()));
    }
}

/// Cuts a value to display length and replaces control characters, so a value always fits on one
/// line of a report.
fn clean(s: &str) -> String {
    let mut out = String::new();
    for (n, c) in s.chars().enumerate() {
        if n >= MAX_VALUE {
            out.push('…');
            break;
        }
        out.push(if c.is_control() { '?' } else { c });
    }
    out
}

fn set_identifier(out: &mut Inspection, id: String) {
    if out.identifier.is_none() {
        out.identifier = Some(id);
    }
}

fn detail(out: &mut Inspection, key: &str, value: impl Into<String>) {
    out.details.insert(key.to_string(), value.into());
}

// ---------------------------------------------------------------------------------------------
// Byte helpers
// ---------------------------------------------------------------------------------------------

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || needle.len() > hay.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

fn rfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || needle.len() > hay.len() {
        return None;
    }
    hay.windows(needle.len()).rposition(|w| w == needle)
}

fn find_ci(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || needle.len() > hay.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w.eq_ignore_ascii_case(needle))
}

fn starts_with_ci(hay: &[u8], prefix: &[u8]) -> bool {
    hay.get(..prefix.len()).is_some_and(|h| h.eq_ignore_ascii_case(prefix))
}

fn ends_with_ci(hay: &[u8], suffix: &[u8]) -> bool {
    hay.len() >= suffix.len() && hay.get(hay.len() - suffix.len()..).is_some_and(|h| h.eq_ignore_ascii_case(suffix))
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Non-empty printable ASCII without spaces: what an id, email, host or user looks like. Anything
/// else read from the input is more likely a mis-parse than a name.
fn is_token(b: &[u8]) -> bool {
    !b.is_empty() && b.len() <= MAX_VALUE && b.iter().all(|c| c.is_ascii_graphic())
}

fn is_digits(b: &[u8]) -> bool {
    !b.is_empty() && b.iter().all(u8::is_ascii_digit)
}

fn parse_i64(b: &[u8]) -> Option<i64> {
    if !is_digits(b) || b.len() > 18 {
        return None;
    }
    std::str::from_utf8(b).ok()?.parse().ok()
}

/// Start of the line holding `pos`, looking back at most `limit` bytes.
fn line_start(ctx: &[u8], pos: usize, limit: usize) -> usize {
    let floor = pos.saturating_sub(limit);
    ctx.get(floor..pos).and_then(|s| s.iter().rposition(|&b| b == b'\n')).map_or(floor, |i| floor + i + 1)
}

/// End of the line holding `pos` (exclusive), looking ahead at most `limit` bytes.
fn line_end(ctx: &[u8], pos: usize, limit: usize) -> usize {
    let ceil = pos.saturating_add(limit).min(ctx.len());
    ctx.get(pos..ceil).and_then(|s| s.iter().position(|&b| b == b'\n' || b == b'\r')).map_or(ceil, |i| pos + i)
}

fn percent_decode(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c == b'%' {
            let hex = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            if let Some(v) = hex {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(c);
        i += 1;
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Base64 and base32
// ---------------------------------------------------------------------------------------------

/// RFC 4648 base32 (A-Z, 2-7), as AWS key ids use it.
fn b32_decode(input: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(input.len() / 8 * 5 + 5);
    let mut acc: u32 = 0;
    let mut bits: u32 = 0;
    for &c in input {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'2'..=b'7' => c - b'2' + 26,
            _ => return None,
        };
        acc = (acc << 5) | u32::from(v);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

// ---------------------------------------------------------------------------------------------
// AWS
// ---------------------------------------------------------------------------------------------

const AWS_ID_PREFIXES: [&[u8]; 4] = [b"AKIA", b"ASIA", b"ABIA", b"ACCA"];

/// Key ids named on the lines this close to a secret access key or session token are taken as its
/// own, the same reach the rules give their companions.
const AWS_ID_LINES: usize = 5;

fn is_aws_key_id(s: &[u8]) -> bool {
    s.len() == 20
        && AWS_ID_PREFIXES.iter().any(|p| s.starts_with(p))
        && s.iter().skip(4).all(|&c| c.is_ascii_uppercase() || (b'2'..=b'7').contains(&c))
}

/// The account number AWS encodes in key ids it issued since about 2019. Older ids (their first
/// bit after the prefix is 0, e.g. `AKIAI…`, `AKIAJ…`) carry no account, so none is invented.
fn aws_account(id: &[u8]) -> Option<u64> {
    let raw = b32_decode(id.get(4..20)?)?;
    let head = raw.get(..6)?;
    if head.first()? & 0x80 == 0 {
        return None;
    }
    let z = head.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
    Some((z & 0x7fff_ffff_ff80) >> 7)
}

fn describe_aws_id(id: &[u8], out: &mut Inspection) {
    let (Some(prefix), Some(last4)) = (id.get(..4), id.get(16..20)) else { return };
    let (prefix, last4) = (text(prefix), text(last4));
    match prefix.as_str() {
        "AKIA" => detail(out, "key_type", "long-term"),
        // ABIA ids are STS service bearer tokens: temporary like ASIA.
        "ASIA" | "ABIA" => {
            detail(out, "key_type", "temporary");
            out.short_lived = true;
        }
        _ => {}
    }
    let account = aws_account(id);
    if let Some(account) = account {
        detail(out, "account_id", format!("{account:012}"));
    }
    set_identifier(
        out,
        match account {
            Some(account) => format!("aws:{account:012}:{prefix}\u{2026}{last4}"),
            None => format!("aws:{prefix}\u{2026}{last4}"),
        },
    );
    out.public_ids.push(text(id));
}

fn aws(cx: &Cx, out: &mut Inspection) {
    let secret = cx.secret.trim_ascii();
    if is_aws_key_id(secret) {
        describe_aws_id(secret, out);
    } else if secret.starts_with(b"ABSK") {
        bedrock_long_term(secret, out);
    } else if secret.starts_with(b"bedrock-api-key-") {
        bedrock_short_term(secret, out);
    } else {
        // A secret access key or session token does not name its key; the key id next to it does.
        if let Some(id) = aws_id_near(cx.context, &cx.at) {
            describe_aws_id(id, out);
        }
        if cx.kind == "session_token" || cx.rule_id.contains("session") {
            detail(out, "key_type", "temporary");
            out.short_lived = true;
        }
    }
}

/// The key id closest to the secret: the nearest one before it (credentials files, CLI output and
/// code name the id first), else the nearest one after it, within a few lines either way.
fn aws_id_near<'a>(ctx: &'a [u8], at: &Range<usize>) -> Option<&'a [u8]> {
    let alnum_at = |i: usize| ctx.get(i).is_some_and(u8::is_ascii_alphanumeric);
    let mut before = None;
    let mut after = None;
    for (i, w) in ctx.windows(20).enumerate() {
        if w.first() != Some(&b'A') || !is_aws_key_id(w) {
            continue;
        }
        if (i > 0 && alnum_at(i - 1)) || alnum_at(i + 20) {
            continue;
        }
        if i + 20 <= at.start {
            before = Some(i);
        } else if i >= at.end && after.is_none() {
            after = Some(i);
        }
    }
    let lines = |a: usize, b: usize| ctx.get(a..b).map_or(usize::MAX, |s| s.iter().filter(|&&c| c == b'\n').count());
    let pick = match (before, after) {
        (Some(b), _) if lines(b, at.start) <= AWS_ID_LINES => Some(b),
        (_, Some(a)) if lines(at.end, a) <= AWS_ID_LINES => Some(a),
        _ => None,
    };
    pick.and_then(|i| ctx.get(i..i + 20))
}

/// `ABSK` + base64("BedrockAPIKey-<id>-at-<account>:<secret>"): the IAM user and its account are
/// spelled out before the colon.
fn bedrock_long_term(secret: &[u8], out: &mut Inspection) {
    let Some(raw) = secret.get(4..).and_then(base64_decode) else { return };
    let Some(head) = find(&raw, b":").and_then(|i| raw.get(..i)) else { return };
    let Some(sep) = rfind(head, b"-at-") else { return };
    let (Some(user), Some(account)) = (head.get(..sep), head.get(sep + 4..)) else { return };
    if !user.starts_with(b"BedrockAPIKey-") || !is_token(user) || account.len() != 12 || !is_digits(account) {
        return;
    }
    let (user, account) = (text(user), text(account));
    detail(out, "key_type", "long-term");
    detail(out, "account_id", account.clone());
    detail(out, "user", user.clone());
    set_identifier(out, format!("aws:{account}:{user}"));
}

/// `bedrock-api-key-` + base64 of a presigned URL: its credential names the (temporary) key id,
/// and its date plus lifetime give the expiry.
fn bedrock_short_term(secret: &[u8], out: &mut Inspection) {
    out.short_lived = true;
    let Some(raw) = secret.get(16..).and_then(base64_decode) else { return };
    if let Some(cred) = query_param(&raw, b"X-Amz-Credential") {
        let cred = percent_decode(cred);
        let id = cred.split(|&b| b == b'/').next().unwrap_or_default();
        if is_aws_key_id(id) {
            describe_aws_id(id, out);
        }
    }
    let date = query_param(&raw, b"X-Amz-Date").and_then(parse_amz_date);
    let lifetime = query_param(&raw, b"X-Amz-Expires").and_then(parse_i64);
    if let (Some(date), Some(lifetime)) = (date, lifetime) {
        out.expires = date.checked_add(lifetime).filter(|t| PLAUSIBLE_TIME.contains(t));
    }
}

/// Value of `name=` in a `?a=b&c=d` query, raw.
fn query_param<'a>(query: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    let mut from = 0;
    while let Some(i) = query.get(from..).and_then(|q| find(q, name)).map(|i| from + i) {
        from = i + 1;
        let starts_field = i == 0 || matches!(query.get(i - 1), Some(b'?' | b'&'));
        if starts_field && query.get(i + name.len()) == Some(&b'=') {
            let rest = query.get(i + name.len() + 1..)?;
            let end = rest.iter().position(|&b| b == b'&').unwrap_or(rest.len());
            return rest.get(..end);
        }
    }
    None
}

/// `YYYYMMDDTHHMMSSZ` to unix seconds.
fn parse_amz_date(s: &[u8]) -> Option<i64> {
    if s.len() != 16 || s.get(8) != Some(&b'T') || s.get(15) != Some(&b'Z') {
        return None;
    }
    let num = |r: Range<usize>| s.get(r).and_then(parse_i64);
    let (y, mo, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (h, mi, se) = (num(9..11)?, num(11..13)?, num(13..15)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    Some(days_from_civil(y, mo, d) * 86_400 + h * 3_600 + mi * 60 + se)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm); inputs are
/// range-checked by the caller so nothing here can overflow.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

// ---------------------------------------------------------------------------------------------
// GCP service-account key files
// ---------------------------------------------------------------------------------------------

fn gcp_service_account(cx: &Cx, out: &mut Inspection) {
    let email = json_string_near(cx.context, &cx.at, b"client_email").filter(|e| e.contains('@'));
    let key_id = json_string_near(cx.context, &cx.at, b"private_key_id");
    // A key file always has project_id, but a truncated context may not: the email's domain
    // (`<name>@<project>.iam.gserviceaccount.com`) names it too.
    let project = json_string_near(cx.context, &cx.at, b"project_id").or_else(|| {
        let domain = email.as_deref()?.split('@').nth(1)?;
        domain.strip_suffix(".iam.gserviceaccount.com").map(str::to_string)
    });
    detail(out, "token_type", "service-account-key");
    if let Some(project) = project {
        detail(out, "project_id", project);
    }
    if let Some(email) = email {
        detail(out, "client_email", email.clone());
        set_identifier(out, format!("gcp:{email}"));
        out.public_ids.push(email);
    }
    if let Some(key_id) = key_id {
        detail(out, "private_key_id", key_id.clone());
        out.public_ids.push(key_id);
    }
}

/// The string value of `"key": "value"` closest to the secret. Tolerates the JSON being escaped
/// inside another string (`\"key\": \"value\"`, once or more): the backslashes are skipped.
fn json_string_near(ctx: &[u8], at: &Range<usize>, key: &[u8]) -> Option<String> {
    let mut best: Option<(usize, &[u8])> = None;
    let mut from = 0;
    while let Some(p) = ctx.get(from..).and_then(|c| find(c, key)).map(|i| from + i) {
        from = p + 1;
        if p == 0 || ctx.get(p - 1) != Some(&b'"') {
            continue;
        }
        let Some(value) = json_value_after(ctx, p + key.len()) else { continue };
        let distance = if p < at.start { at.start - p } else { p.saturating_sub(at.end) };
        if best.is_none_or(|(d, _)| distance < d) {
            best = Some((distance, value));
        }
    }
    best.map(|(_, v)| text(v))
}

/// After a key's last letter: `"` `:` `"value"`, with backslashes and whitespace allowed around
/// the punctuation.
fn json_value_after(ctx: &[u8], mut i: usize) -> Option<&[u8]> {
    let skip = |i: &mut usize, set: &[u8]| {
        while ctx.get(*i).is_some_and(|c| set.contains(c)) {
            *i += 1;
        }
    };
    skip(&mut i, b"\\");
    (ctx.get(i) == Some(&b'"')).then_some(())?;
    i += 1;
    skip(&mut i, b" \t\r\n");
    (ctx.get(i) == Some(&b':')).then_some(())?;
    i += 1;
    skip(&mut i, b" \t\r\n\\");
    (ctx.get(i) == Some(&b'"')).then_some(())?;
    i += 1;
    let rest = ctx.get(i..)?;
    let len = rest.iter().take(MAX_VALUE + 1).position(|&c| c == b'"' || c == b'\\')?;
    let value = rest.get(..len)?;
    is_token(value).then_some(value)
}

// ---------------------------------------------------------------------------------------------
// JWT
// ---------------------------------------------------------------------------------------------

/// The JWT a secret is or carries: itself, after a vendor prefix (GitLab CI job tokens), or
/// base64-encoded once more (a Kubernetes Secret's `data.token`).
fn embedded_jwt(secret: &[u8]) -> Option<Vec<u8>> {
    let s = secret.trim_ascii();
    if s.starts_with(b"eyJ") {
        return Some(s.to_vec());
    }
    if let Some(rest) = s.strip_prefix(b"glcbt-").filter(|r| r.starts_with(b"eyJ")) {
        return Some(rest.to_vec());
    }
    if s.starts_with(b"ZXlK") {
        let decoded = base64_decode(s)?;
        let decoded = decoded.trim_ascii();
        return decoded.starts_with(b"eyJ").then(|| decoded.to_vec());
    }
    None
}

#[derive(Default)]
struct Jwt {
    alg: Option<String>,
    iss: Option<String>,
    sub: Option<String>,
    aud: Option<String>,
    iat: Option<i64>,
    exp: Option<i64>,
    namespace: Option<String>,
    service_account: Option<String>,
}

impl Jwt {
    fn parse(token: &[u8]) -> Option<Jwt> {
        let mut parts = token.split(|&b| b == b'.');
        let (header, payload, _signature) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || !header.starts_with(b"eyJ") {
            return None;
        }
        let header: Value = serde_json::from_slice(&base64_decode(header)?).ok()?;
        let claims: Value = serde_json::from_slice(&base64_decode(payload)?).ok()?;
        if !header.is_object() || !claims.is_object() {
            return None;
        }
        let mut jwt = Jwt {
            alg: json_str(&header, "alg"),
            iss: json_str(&claims, "iss"),
            sub: json_str(&claims, "sub"),
            aud: match claims.get("aud") {
                Some(Value::Array(items)) => {
                    let items: Vec<&str> = items.iter().filter_map(Value::as_str).filter(|s| !s.is_empty()).collect();
                    (!items.is_empty()).then(|| items.join(","))
                }
                _ => json_str(&claims, "aud"),
            },
            iat: json_time(&claims, "iat"),
            exp: json_time(&claims, "exp"),
            ..Jwt::default()
        };
        // Legacy secret-based tokens flatten the claims; bound (projected) tokens nest them.
        jwt.namespace = json_str(&claims, "kubernetes.io/serviceaccount/namespace")
            .or_else(|| claims.get("kubernetes.io").and_then(|k| json_str(k, "namespace")));
        jwt.service_account = json_str(&claims, "kubernetes.io/serviceaccount/service-account.name")
            .or_else(|| claims.get("kubernetes.io")?.get("serviceaccount").and_then(|s| json_str(s, "name")));
        // Both forms also say it in the subject: `system:serviceaccount:<namespace>:<name>`.
        if let Some(rest) = jwt.sub.as_deref().and_then(|s| s.strip_prefix("system:serviceaccount:")) {
            if let Some((ns, name)) = rest.split_once(':') {
                jwt.namespace.get_or_insert_with(|| ns.to_string());
                jwt.service_account.get_or_insert_with(|| name.to_string());
            }
        }
        Some(jwt)
    }

    fn apply(self, out: &mut Inspection) {
        let kubernetes = self.namespace.is_some() || self.service_account.is_some();
        out.details
            .entry("token_type".into())
            .or_insert_with(|| if kubernetes { "kubernetes-service-account" } else { "jwt" }.to_string());
        let facts = [
            ("algorithm", self.alg),
            ("iss", self.iss.clone()),
            ("sub", self.sub.clone()),
            ("aud", self.aud),
            ("iat", self.iat.map(|t| t.to_string())),
            ("exp", self.exp.map(|t| t.to_string())),
            ("namespace", self.namespace),
            ("service_account", self.service_account),
        ];
        for (key, value) in facts {
            if let Some(value) = value {
                detail(out, key, value);
            }
        }
        out.expires = self.exp.filter(|t| PLAUSIBLE_TIME.contains(t));
        if let (Some(iat), Some(exp)) = (self.iat, self.exp) {
            // A token that expires before it is issued has no lifetime to speak of.
            if exp.checked_sub(iat).is_some_and(|life| (0..=86_400).contains(&life)) {
                out.short_lived = true;
            }
        }
        if let (Some(iss), Some(sub)) = (&self.iss, &self.sub) {
            out.public_ids.push(format!("{iss}/{sub}"));
        }
        let mut named = Vec::new();
        if let Some(iss) = &self.iss {
            named.push(format!("iss={iss}"));
        }
        if let Some(sub) = &self.sub {
            named.push(format!("sub={sub}"));
        }
        set_identifier(out, if named.is_empty() { "jwt".to_string() } else { format!("jwt:{}", named.join(";")) });
    }
}

fn json_str(v: &Value, key: &str) -> Option<String> {
    match v.get(key)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A NumericDate: integer, float (truncated) or a decimal string, as issuers variously write it.
fn json_time(v: &Value, key: &str) -> Option<i64> {
    match v.get(key)? {
        // `as` saturates on out-of-range floats, so a hostile 1e300 cannot panic.
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().filter(|f| f.is_finite()).map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// Private keys
// ---------------------------------------------------------------------------------------------

#[derive(Default)]
struct KeyInfo {
    algorithm: Option<String>,
    bits: Option<usize>,
    curve: Option<&'static str>,
    encrypted: bool,
}

impl KeyInfo {
    fn read(secret: &[u8]) -> Option<KeyInfo> {
        let secret = secret.trim_ascii();
        // A PEM block base64-encoded once more (kubeconfig `client-key-data`, Kubernetes Secrets).
        if secret.starts_with(b"LS0tLS1CRUdJT") {
            let pem = base64_decode(secret)?;
            return KeyInfo::read_text(&pem);
        }
        KeyInfo::read_text(secret)
    }

    fn read_text(armored: &[u8]) -> Option<KeyInfo> {
        if let Some(i) = find(armored, b"PuTTY-User-Key-File-") {
            return putty(armored.get(i..)?);
        }
        let (label, body) = pem_block(armored)?;
        let label = label.to_ascii_uppercase();
        let from_label = match label.as_str() {
            "RSA PRIVATE KEY" => Some("rsa"),
            "EC PRIVATE KEY" => Some("ec"),
            "DSA PRIVATE KEY" => Some("dsa"),
            _ => None,
        };
        let mut key = KeyInfo { algorithm: from_label.map(str::to_string), ..KeyInfo::default() };
        if label == "ENCRYPTED PRIVATE KEY" {
            // PKCS#8 EncryptedPrivateKeyInfo names only the cipher; the key type is inside the
            // ciphertext.
            key.encrypted = true;
            return Some(key);
        }
        if find(body, b"Proc-Type:").is_some() {
            // Legacy OpenSSL encryption: header lines, then a ciphertext body.
            key.encrypted = find(body, b"ENCRYPTED").is_some();
            return Some(key);
        }
        let der = base64_decode(&pem_base64(body));
        if label == "OPENSSH PRIVATE KEY" {
            return Some(der.as_deref().and_then(openssh).unwrap_or_default());
        }
        let parsed = der.as_deref().and_then(|der| match label.as_str() {
            "RSA PRIVATE KEY" => pkcs1(der),
            "EC PRIVATE KEY" => sec1(der),
            "DSA PRIVATE KEY" => dsa(der),
            "PRIVATE KEY" => pkcs8(der),
            _ => pkcs8(der).or_else(|| pkcs1(der)).or_else(|| sec1(der)),
        });
        match parsed {
            Some(parsed) => Some(parsed),
            // A known label still says what the key is when its body is damaged or elided.
            None if from_label.is_some() || label == "PRIVATE KEY" => Some(key),
            // Other armor (PGP, SSH2) is not read here: claiming "unencrypted" for it would be a
            // guess.
            None => None,
        }
    }

    fn apply(self, out: &mut Inspection) {
        let bits = self.bits.or_else(|| self.curve.and_then(curve_bits));
        if let Some(algorithm) = &self.algorithm {
            detail(out, "algorithm", algorithm.clone());
        }
        if let Some(bits) = bits {
            detail(out, "bits", bits.to_string());
        }
        if let Some(curve) = self.curve {
            detail(out, "curve", curve);
        }
        detail(out, "encrypted", if self.encrypted { "true" } else { "false" });
        let mut id = format!("key:{}", self.algorithm.as_deref().unwrap_or("unknown"));
        if let Some(curve) = self.curve {
            id = format!("{id}-{curve}");
        } else if let Some(bits) = self.bits {
            id = format!("{id}-{bits}");
        }
        if self.encrypted {
            id.push_str(" (encrypted)");
        }
        set_identifier(out, id);
    }
}

/// Label and body of the first `-----BEGIN <label>-----` … `-----END` block.
fn pem_block(pem: &[u8]) -> Option<(String, &[u8])> {
    let begin = find(pem, b"-----BEGIN ")? + 11;
    let label_len = find(pem.get(begin..)?, b"-----")?;
    let label = pem.get(begin..begin + label_len)?;
    if label.len() > 64 || !label.iter().all(|c| c.is_ascii_alphanumeric() || *c == b' ') {
        return None;
    }
    let body_start = begin + label_len + 5;
    let body = pem.get(body_start..)?;
    let body_len = find(body, b"-----END").unwrap_or(body.len());
    Some((text(label), body.get(..body_len)?))
}

/// The base64 characters of a PEM body as found in source: line breaks may be real or escaped
/// (`\n`, `\\n`), and lines may be quoted and joined with `+` or `,` in code. Runs that are only
/// `+` are the concatenation operator, never key data (a base64 line is a multiple of 4 long).
fn pem_base64(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len());
    let mut run: Vec<u8> = Vec::new();
    let flush = |run: &mut Vec<u8>, out: &mut Vec<u8>| {
        if !run.iter().all(|&c| c == b'+') {
            out.extend_from_slice(run);
        }
        run.clear();
    };
    let mut i = 0;
    while let Some(&c) = body.get(i) {
        i += 1;
        if c == b'\\' {
            flush(&mut run, &mut out);
            while body.get(i) == Some(&b'\\') {
                i += 1;
            }
            if matches!(body.get(i), Some(b'n' | b'r' | b't' | b'"' | b'\'')) {
                i += 1;
            }
        } else if c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'=') {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
        }
    }
    flush(&mut run, &mut out);
    out
}

/// One DER element: (tag, contents, rest). Only single-byte tags and definite lengths, which is
/// all key structures use; anything else is refused.
fn der(b: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = b.split_first()?;
    if tag & 0x1f == 0x1f {
        return None;
    }
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let bytes = rest.get(..n)?;
        rest = rest.get(n..)?;
        bytes.iter().try_fold(0usize, |acc, &b| acc.checked_mul(256)?.checked_add(usize::from(b)))?
    };
    Some((tag, rest.get(..len)?, rest.get(len..)?))
}

fn der_expect(b: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (t, content, rest) = der(b)?;
    (t == tag).then_some((content, rest))
}

const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
const OCTET_STRING: u8 = 0x04;
const OID: u8 = 0x06;

/// Bit length of a big-endian unsigned integer (DER INTEGER contents or SSH mpint).
fn int_bits(n: &[u8]) -> Option<usize> {
    let start = n.iter().position(|&b| b != 0)?;
    let top = n.get(start)?;
    Some((n.len() - start - 1) * 8 + (8 - top.leading_zeros() as usize))
}

/// PKCS#1 RSAPrivateKey: version, modulus, …
fn pkcs1(der_bytes: &[u8]) -> Option<KeyInfo> {
    let (seq, _) = der_expect(der_bytes, SEQUENCE)?;
    let (_version, rest) = der_expect(seq, INTEGER)?;
    let (modulus, _) = der_expect(rest, INTEGER)?;
    Some(KeyInfo { algorithm: Some("rsa".into()), bits: int_bits(modulus), ..KeyInfo::default() })
}

/// OpenSSL's DSA private key: version, p, q, g, y, x.
fn dsa(der_bytes: &[u8]) -> Option<KeyInfo> {
    let (seq, _) = der_expect(der_bytes, SEQUENCE)?;
    let (_version, rest) = der_expect(seq, INTEGER)?;
    let (p, _) = der_expect(rest, INTEGER)?;
    Some(KeyInfo { algorithm: Some("dsa".into()), bits: int_bits(p), ..KeyInfo::default() })
}

/// SEC1 ECPrivateKey: version 1, private key, optional [0] curve, optional [1] public key.
fn sec1(der_bytes: &[u8]) -> Option<KeyInfo> {
    let (seq, _) = der_expect(der_bytes, SEQUENCE)?;
    let (_version, rest) = der_expect(seq, INTEGER)?;
    let (_key, mut rest) = der_expect(rest, OCTET_STRING)?;
    let mut curve = None;
    while let Some((tag, content, next)) = der(rest) {
        if tag == 0xa0 {
            curve = der_expect(content, OID).and_then(|(oid, _)| curve_name(oid));
        }
        rest = next;
    }
    Some(KeyInfo { algorithm: Some("ec".into()), curve, ..KeyInfo::default() })
}

/// PKCS#8 PrivateKeyInfo: version, AlgorithmIdentifier { oid, parameters }, privateKey.
fn pkcs8(der_bytes: &[u8]) -> Option<KeyInfo> {
    let (seq, _) = der_expect(der_bytes, SEQUENCE)?;
    let (_version, rest) = der_expect(seq, INTEGER)?;
    let (alg_id, rest) = der_expect(rest, SEQUENCE)?;
    let inner = der_expect(rest, OCTET_STRING).map(|(k, _)| k);
    let (oid, params) = der_expect(alg_id, OID)?;
    let named = |name: &str| Some(KeyInfo { algorithm: Some(name.into()), ..KeyInfo::default() });
    match oid {
        OID_RSA | OID_RSA_PSS => {
            let name = if oid == OID_RSA { "rsa" } else { "rsa-pss" };
            let bits = inner.and_then(pkcs1).and_then(|k| k.bits);
            Some(KeyInfo { algorithm: Some(name.into()), bits, ..KeyInfo::default() })
        }
        OID_EC => {
            let curve = der_expect(params, OID)
                .and_then(|(c, _)| curve_name(c))
                .or_else(|| inner.and_then(sec1).and_then(|k| k.curve));
            Some(KeyInfo { algorithm: Some("ec".into()), curve, ..KeyInfo::default() })
        }
        OID_DSA => {
            let bits =
                der_expect(params, SEQUENCE).and_then(|(p, _)| der_expect(p, INTEGER)).and_then(|(p, _)| int_bits(p));
            Some(KeyInfo { algorithm: Some("dsa".into()), bits, ..KeyInfo::default() })
        }
        OID_ED25519 => named("ed25519"),
        OID_ED448 => named("ed448"),
        OID_X25519 => named("x25519"),
        OID_X448 => named("x448"),
        _ => Some(KeyInfo::default()),
    }
}

const OID_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
const OID_RSA_PSS: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a];
const OID_EC: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const OID_DSA: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x38, 0x04, 0x01];
const OID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];
const OID_ED448: &[u8] = &[0x2b, 0x65, 0x71];
const OID_X25519: &[u8] = &[0x2b, 0x65, 0x6e];
const OID_X448: &[u8] = &[0x2b, 0x65, 0x6f];

/// Named curves by OID contents, with their field size in bits.
const CURVES: &[(&[u8], &str, usize)] = &[
    (&[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07], "p256", 256),
    (&[0x2b, 0x81, 0x04, 0x00, 0x22], "p384", 384),
    (&[0x2b, 0x81, 0x04, 0x00, 0x23], "p521", 521),
    (&[0x2b, 0x81, 0x04, 0x00, 0x0a], "secp256k1", 256),
    (&[0x2b, 0x81, 0x04, 0x00, 0x21], "p224", 224),
    (&[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x01], "p192", 192),
    (&[0x2b, 0x24, 0x03, 0x03, 0x02, 0x08, 0x01, 0x01, 0x07], "brainpoolP256r1", 256),
    (&[0x2b, 0x24, 0x03, 0x03, 0x02, 0x08, 0x01, 0x01, 0x0b], "brainpoolP384r1", 384),
    (&[0x2b, 0x24, 0x03, 0x03, 0x02, 0x08, 0x01, 0x01, 0x0d], "brainpoolP512r1", 512),
    (&[0x2a, 0x81, 0x1c, 0xcf, 0x55, 0x01, 0x82, 0x2d], "sm2", 256),
];

fn curve_name(oid: &[u8]) -> Option<&'static str> {
    CURVES.iter().find(|(o, _, _)| *o == oid).map(|(_, name, _)| *name)
}

fn curve_bits(curve: &str) -> Option<usize> {
    CURVES.iter().find(|(_, name, _)| *name == curve).map(|(_, _, bits)| *bits)
}

/// SSH wire-format reader: big-endian u32 lengths before every string.
struct Ssh<'a>(&'a [u8]);

impl<'a> Ssh<'a> {
    fn u32(&mut self) -> Option<u32> {
        let b = self.0.get(..4)?;
        self.0 = self.0.get(4..)?;
        Some(u32::from_be_bytes([*b.first()?, *b.get(1)?, *b.get(2)?, *b.get(3)?]))
    }

    fn string(&mut self) -> Option<&'a [u8]> {
        let len = usize::try_from(self.u32()?).ok()?;
        let s = self.0.get(..len)?;
        self.0 = self.0.get(len..)?;
        Some(s)
    }
}

/// The `openssh-key-v1` container: cipher, kdf, kdf options, key count, then the public keys in
/// clear even when the private part is encrypted, so the key type and size are always readable.
fn openssh(bytes: &[u8]) -> Option<KeyInfo> {
    let mut r = Ssh(bytes.strip_prefix(b"openssh-key-v1\0")?);
    let cipher = r.string()?;
    let encrypted = cipher != b"none";
    let parsed = (|| {
        let _kdf = r.string()?;
        let _kdf_options = r.string()?;
        if r.u32()? == 0 {
            return None;
        }
        ssh_public_key(r.string()?)
    })();
    Some(KeyInfo { encrypted, ..parsed.unwrap_or_default() })
}

/// An SSH public key blob: key type, then the type's public parameters.
fn ssh_public_key(blob: &[u8]) -> Option<KeyInfo> {
    let mut r = Ssh(blob);
    let key_type = r.string()?;
    let (algorithm, curve) = ssh_key_type(key_type)?;
    let bits = match key_type {
        // ssh-rsa: e then n; ssh-dss: p first.
        b"ssh-rsa" => r.string().and_then(|_e| r.string()).and_then(int_bits),
        b"ssh-dss" => r.string().and_then(int_bits),
        _ => None,
    };
    Some(KeyInfo { algorithm: Some(algorithm), bits, curve, encrypted: false })
}

fn ssh_key_type(name: &[u8]) -> Option<(String, Option<&'static str>)> {
    let known = match name {
        b"ssh-rsa" => ("rsa", None),
        b"ssh-dss" => ("dsa", None),
        b"ssh-ed25519" => ("ed25519", None),
        b"ssh-ed448" => ("ed448", None),
        b"ecdsa-sha2-nistp256" => ("ec", Some("p256")),
        b"ecdsa-sha2-nistp384" => ("ec", Some("p384")),
        b"ecdsa-sha2-nistp521" => ("ec", Some("p521")),
        b"sk-ssh-ed25519@openssh.com" => ("ed25519-sk", None),
        b"sk-ecdsa-sha2-nistp256@openssh.com" => ("ec-sk", Some("p256")),
        other if other.len() <= 64 && is_token(other) => return Some((text(other), None)),
        _ => return None,
    };
    Some((known.0.to_string(), known.1))
}

/// PuTTY `.ppk` (versions 2 and 3): algorithm and encryption are header lines, and the public key
/// (`Public-Lines: n`, then n base64 lines) is never encrypted.
fn putty(ppk: &[u8]) -> Option<KeyInfo> {
    let mut lines = ppk.split(|&b| b == b'\n').map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let first = lines.next()?;
    let header_alg = first.splitn(2, |&b| b == b':').nth(1).map(<[u8]>::trim_ascii)?;
    let mut key = KeyInfo::default();
    if let Some((algorithm, curve)) = ssh_key_type(header_alg) {
        key.algorithm = Some(algorithm);
        key.curve = curve;
    }
    while let Some(line) = lines.next() {
        if let Some(v) = line.strip_prefix(b"Encryption:") {
            key.encrypted = v.trim_ascii() != b"none";
        } else if let Some(v) = line.strip_prefix(b"Public-Lines:") {
            let n = parse_i64(v.trim_ascii()).and_then(|n| usize::try_from(n).ok()).unwrap_or(0);
            let body: Vec<u8> = lines.by_ref().take(n.min(1024)).flatten().copied().collect();
            if let Some(public) = base64_decode(&body).as_deref().and_then(ssh_public_key) {
                key.algorithm = public.algorithm.or(key.algorithm);
                key.bits = public.bits;
                key.curve = public.curve.or(key.curve);
            }
            break;
        }
    }
    Some(key)
}

// ---------------------------------------------------------------------------------------------
// Database and broker URLs, JDBC, connection strings, .pgpass
// ---------------------------------------------------------------------------------------------

#[derive(Default)]
struct DbId {
    scheme: String,
    user: Option<String>,
    host: Option<String>,
    port: Option<String>,
    database: Option<String>,
    /// Path of a non-database URL (http, ftp), kept for the identifier only.
    path: Option<String>,
    /// The text carries a password (`user:password@`, `password=`): it is a credential URL, not
    /// just any URL near the secret.
    has_password: bool,
}

impl DbId {
    fn apply(self, out: &mut Inspection) {
        let mut id = format!("{}://", self.scheme);
        if let Some(user) = &self.user {
            id.push_str(user);
            id.push('@');
        }
        if let Some(host) = &self.host {
            id.push_str(host);
        }
        if let Some(port) = &self.port {
            id.push(':');
            id.push_str(port);
        }
        if let Some(database) = &self.database {
            id.push('/');
            id.push_str(database);
        } else if let Some(path) = &self.path {
            id.push_str(path);
        }
        detail(out, "scheme", self.scheme.clone());
        for (key, value) in [("user", self.user), ("host", self.host), ("port", self.port), ("database", self.database)]
        {
            if let Some(value) = value {
                detail(out, key, value);
            }
        }
        out.public_ids.push(id.clone());
        set_identifier(out, id);
    }
}

/// Bytes that end a URL written in text or code.
fn ends_url(c: u8) -> bool {
    c.is_ascii_whitespace() || matches!(c, b'"' | b'\'' | b'`' | b'<' | b'>')
}

/// Schemes whose path is not a database name.
const WEB_SCHEMES: [&str; 7] = ["http", "https", "ftp", "ftps", "sftp", "ws", "wss"];

fn database(cx: &Cx) -> Option<DbId> {
    let is_db_rule = cx.kind == "database_credential";
    let secret = cx.secret.trim_ascii();
    let found = if cx.rule_id == "pgpass-password" {
        pgpass(cx.context, &cx.at)
    } else if find(secret, b"://").is_some() || starts_with_ci(secret, b"jdbc:") {
        parse_url(secret, None)
    } else {
        url_around(cx.context, &cx.at)
            .and_then(|r| {
                let span = cx.at.start.saturating_sub(r.start)..cx.at.end.saturating_sub(r.start);
                parse_url(cx.context.get(r)?, Some(span))
            })
            .or_else(|| conn_string_around(cx.context, &cx.at))
    };
    found.filter(|db| db.host.is_some() && (is_db_rule || db.has_password))
}

/// The URL (scheme through its last byte) on the secret's line that contains the secret.
fn url_around(ctx: &[u8], at: &Range<usize>) -> Option<Range<usize>> {
    let ls = line_start(ctx, at.start, 4096);
    let before = ctx.get(ls..at.start)?;
    // The URL cannot start before the last quote or space ahead of the secret.
    let from = before.iter().rposition(|&c| ends_url(c)).map_or(0, |i| i + 1);
    let lead = before.get(from..)?;
    let start = match rfind(lead, b"://") {
        Some(sep) => {
            let scheme_len =
                lead.get(..sep)?.iter().rev().take_while(|c| c.is_ascii_alphanumeric() || b"+.-".contains(c)).count();
            let mut s = sep - scheme_len;
            if s >= 5 && lead.get(s - 5..s).is_some_and(|j| j.eq_ignore_ascii_case(b"jdbc:")) {
                s -= 5;
            }
            s
        }
        // Oracle's thin URL has no `://` before the credentials.
        None => find_ci(lead, b"jdbc:")?,
    };
    let start = ls + from + start;
    let tail = ctx.get(at.end..)?;
    let mut len = 0;
    while let Some(&c) = tail.get(len) {
        // In an escaped string the closing quote is `\"` and a line break `\n`.
        if ends_url(c) || (c == b'\\' && matches!(tail.get(len + 1), Some(b'"' | b'n' | b'r' | b'\''))) || len > 4096 {
            break;
        }
        len += 1;
    }
    Some(start..at.end + len)
}

/// Parses `scheme://[user[:password]@]host[:port][/database][?params]`, JDBC's
/// `jdbc:<driver>://…` with `?`/`;`/`:` parameters, and Oracle's thin form. `password` is the
/// secret's span in `url` when known, which settles where the user info ends even when the
/// password holds `@`.
fn parse_url(url: &[u8], password: Option<Range<usize>>) -> Option<DbId> {
    let jdbc = starts_with_ci(url, b"jdbc:");
    let offset = if jdbc { 5 } else { 0 };
    let body = url.get(offset..)?;
    if jdbc && starts_with_ci(body, b"oracle:thin:") {
        return oracle_thin(url, password);
    }
    let sep = find(body, b"://")?;
    let scheme = body.get(..sep)?;
    if scheme.is_empty() || scheme.len() > 32 || !scheme.iter().all(|c| c.is_ascii_alphanumeric() || b"+.-".contains(c))
    {
        return None;
    }
    let scheme = text(scheme).to_ascii_lowercase();
    let auth_start = offset + sep + 3;
    let rest = url.get(auth_start..)?;

    // Where the user info ends: right after the known password, else at the last `@` before the
    // path (an unencoded `@` in a password belongs to the password).
    let (userinfo, host_start) = match password {
        Some(pw) if pw.start >= auth_start && url.get(pw.end) == Some(&b'@') => {
            (url.get(auth_start..pw.end), pw.end + 1)
        }
        _ => {
            let path_at = rest.iter().position(|&c| c == b'/').unwrap_or(rest.len());
            match rest.get(..path_at).and_then(|a| rfind(a, b"@")) {
                Some(i) => (rest.get(..i), auth_start + i + 1),
                None => (None, auth_start),
            }
        }
    };
    let mut db = DbId { scheme, ..DbId::default() };
    if let Some(userinfo) = userinfo {
        let (user, pass) = match userinfo.iter().position(|&c| c == b':') {
            Some(i) => (userinfo.get(..i)?, userinfo.get(i + 1..)?),
            None => (userinfo, &b""[..]),
        };
        db.has_password = !pass.is_empty();
        db.user = is_token(user).then(|| text(user));
    }

    let after = url.get(host_start..)?;
    let host_len = after.iter().position(|c| b"/?;#".contains(c)).unwrap_or(after.len());
    let (host, port) = split_host_port(after.get(..host_len)?);
    db.host = host;
    db.port = port;

    let mut rest = after.get(host_len..)?;
    // JDBC drivers put properties after `;` (SQL Server) or `:` (DB2) as well as `?`.
    let path_ends: &[u8] = if jdbc { b"?#;:" } else { b"?#;" };
    if let Some(path) = rest.strip_prefix(b"/") {
        let len = path.iter().position(|c| path_ends.contains(c)).unwrap_or(path.len());
        let value = path.get(..len)?;
        if WEB_SCHEMES.contains(&db.scheme.as_str()) {
            db.path = is_token(value).then(|| format!("/{}", text(value)));
        } else if is_token(value) {
            db.database = Some(text(value));
        }
        rest = path.get(len..)?;
    }
    if !WEB_SCHEMES.contains(&db.scheme.as_str()) {
        read_params(rest, b"?&;:", &mut db);
    }
    Some(db)
}

/// `user=`, `database=` and the like from a parameter list; `password=` only marks that one is
/// there, its value is never read.
fn read_params(params: &[u8], separators: &[u8], db: &mut DbId) {
    for pair in params.split(|c| separators.contains(c)) {
        let Some(eq) = pair.iter().position(|&c| c == b'=') else { continue };
        let (Some(key), Some(value)) = (pair.get(..eq), pair.get(eq + 1..)) else { continue };
        let key: Vec<u8> = key.iter().filter(|c| !c.is_ascii_whitespace()).map(u8::to_ascii_lowercase).collect();
        match key.as_slice() {
            b"password" | b"pwd" => db.has_password = db.has_password || !value.is_empty(),
            b"user" | b"username" | b"uid" | b"userid" if db.user.is_none() && is_token(value) => {
                db.user = Some(text(value));
            }
            b"database" | b"databasename" | b"dbname" if db.database.is_none() && is_token(value) => {
                db.database = Some(text(value));
            }
            _ => {}
        }
    }
}

/// `host`, `host:port`, `[v6]:port`; a comma-separated host list is kept whole, its ports inline.
fn split_host_port(hp: &[u8]) -> (Option<String>, Option<String>) {
    if !is_token(hp) {
        return (None, None);
    }
    if hp.starts_with(b"[") {
        if let Some(close) = hp.iter().position(|&c| c == b']') {
            let host = hp.get(..=close).map(text);
            let port = hp.get(close + 1..).and_then(|p| p.strip_prefix(b":")).filter(|p| is_digits(p)).map(text);
            return (host, port);
        }
    }
    if !hp.contains(&b',') {
        if let Some(colon) = hp.iter().rposition(|&c| c == b':') {
            if let (Some(host), Some(port)) = (hp.get(..colon), hp.get(colon + 1..)) {
                if is_digits(port) && !host.is_empty() {
                    return (Some(text(host)), Some(text(port)));
                }
            }
        }
    }
    (Some(text(hp)), None)
}

/// `jdbc:oracle:thin:user/password@` followed by `//host:port/service`, `host:port:SID`,
/// `host:port/service` or a `(DESCRIPTION=…)` connect descriptor.
fn oracle_thin(url: &[u8], password: Option<Range<usize>>) -> Option<DbId> {
    const PREFIX: usize = "jdbc:oracle:thin:".len();
    let at_sign = match password {
        Some(pw) if url.get(pw.end) == Some(&b'@') => pw.end,
        _ => PREFIX + url.get(PREFIX..)?.iter().position(|&c| c == b'@')?,
    };
    let creds = url.get(PREFIX..at_sign)?;
    let mut db = DbId { scheme: "oracle".into(), ..DbId::default() };
    if let Some(slash) = creds.iter().position(|&c| c == b'/') {
        let user = creds.get(..slash)?;
        db.user = is_token(user).then(|| text(user));
        db.has_password = creds.len() > slash + 1;
    }
    let target = url.get(at_sign + 1..)?;
    let target = target.strip_prefix(b"//").unwrap_or(target);
    if target.starts_with(b"(") {
        let value = |key: &[u8]| {
            let i = find_ci(target, key)? + key.len();
            let v = target.get(i..)?;
            let v = v.get(..v.iter().position(|&c| c == b')')?)?.trim_ascii();
            is_token(v).then(|| text(v))
        };
        db.host = value(b"HOST=");
        db.port = value(b"PORT=").filter(|p| is_digits(p.as_bytes()));
        db.database = value(b"SERVICE_NAME=").or_else(|| value(b"SID="));
        return Some(db);
    }
    let host_len = target.iter().position(|c| b":/?".contains(c)).unwrap_or(target.len());
    let host = target.get(..host_len)?;
    db.host = is_token(host).then(|| text(host));
    let mut rest = target.get(host_len..)?;
    if let Some(p) = rest.strip_prefix(b":") {
        let len = p.iter().take_while(|c| c.is_ascii_digit()).count();
        if len > 0 {
            db.port = p.get(..len).map(text);
            rest = p.get(len..)?;
        }
    }
    if let Some(service) = rest.strip_prefix(b"/").or_else(|| rest.strip_prefix(b":")) {
        let len = service.iter().position(|c| b"?;:".contains(c)).unwrap_or(service.len());
        let service = service.get(..len)?;
        db.database = is_token(service).then(|| text(service));
    }
    Some(db)
}

/// `Server=…;Database=…;User Id=…;Password=<secret>` (ADO.NET, ODBC, OLE DB, Npgsql), found
/// around the secret. Only taken when the secret is the value of `Password=`/`Pwd=`.
fn conn_string_around(ctx: &[u8], at: &Range<usize>) -> Option<DbId> {
    let ls = line_start(ctx, at.start, 2048);
    let le = line_end(ctx, at.end, 2048);
    let is_quote = |c: &u8| matches!(c, b'"' | b'\'' | b'`');
    let start = ctx.get(ls..at.start)?.iter().rposition(is_quote).map_or(ls, |i| ls + i + 1);
    let end = ctx.get(at.end..le)?.iter().position(is_quote).map_or(le, |i| at.end + i);

    let lead = ctx.get(start..at.start)?.trim_ascii_end();
    let lead = lead.strip_suffix(b"{").unwrap_or(lead).trim_ascii_end();
    let key = lead.strip_suffix(b"=")?.trim_ascii_end();
    if !ends_with_ci(key, b"password") && !ends_with_ci(key, b"pwd") {
        return None;
    }

    let mut fields: BTreeMap<&'static str, String> = BTreeMap::new();
    for part in ctx.get(start..end)?.split(|&c| c == b';') {
        // `NAME=Server=…` (an environment variable holding the string) has several `=`: each
        // key is the text since the previous one.
        let mut key_start = 0;
        for (eq, _) in part.iter().enumerate().filter(|(_, &c)| c == b'=') {
            let key = part.get(key_start..eq).unwrap_or_default();
            let key: Vec<u8> = key.iter().filter(|c| !c.is_ascii_whitespace()).map(u8::to_ascii_lowercase).collect();
            let value = part.get(eq + 1..).unwrap_or_default().trim_ascii();
            let name = match key.as_slice() {
                b"server" | b"datasource" | b"host" | b"hostname" | b"addr" | b"address" | b"networkaddress" => "host",
                b"port" => "port",
                b"database" | b"initialcatalog" | b"dbname" => "database",
                b"uid" | b"userid" | b"user" | b"username" => "user",
                b"driver" | b"provider" => "driver",
                _ => {
                    key_start = eq + 1;
                    continue;
                }
            };
            let value = value.strip_prefix(b"{").and_then(|v| v.strip_suffix(b"}")).unwrap_or(value);
            if is_token(value) || name == "driver" {
                fields.entry(name).or_insert_with(|| text(value));
            }
            break;
        }
    }

    let mut db = DbId { has_password: true, ..DbId::default() };
    if let Some(server) = fields.get("host") {
        // SQL Server writes `tcp:host,port` or `host\instance`.
        let server = server.strip_prefix("tcp:").unwrap_or(server);
        match server.rsplit_once(',') {
            Some((host, port)) if is_digits(port.as_bytes()) => {
                db.host = Some(host.to_string());
                db.port = Some(port.to_string());
            }
            _ => db.host = Some(server.to_string()),
        }
    }
    if db.port.is_none() {
        db.port = fields.get("port").filter(|p| is_digits(p.as_bytes())).cloned();
    }
    db.user = fields.get("user").cloned();
    db.database = fields.get("database").cloned();
    db.scheme = conn_string_scheme(&fields, db.port.as_deref()).to_string();
    Some(db)
}

/// Which database a `key=value;` string is for. The driver name says it when present; Npgsql's
/// `Host=`/`Username=` and well-known ports say it otherwise; the rest is ADO.NET's home ground,
/// SQL Server.
fn conn_string_scheme(fields: &BTreeMap<&'static str, String>, port: Option<&str>) -> &'static str {
    let driver = fields.get("driver").map(|d| d.to_ascii_lowercase()).unwrap_or_default();
    if driver.contains("postgres") || driver.contains("npgsql") {
        return "postgres";
    }
    if driver.contains("mysql") || driver.contains("mariadb") {
        return "mysql";
    }
    if driver.contains("oracle") {
        return "oracle";
    }
    if driver.contains("sql server") || driver.contains("sqloledb") || driver.contains("msoledbsql") {
        return "sqlserver";
    }
    match port {
        Some("5432") => return "postgres",
        Some("3306") => return "mysql",
        Some("1521") => return "oracle",
        _ => {}
    }
    "sqlserver"
}

/// A `.pgpass` line, `host:port:database:user:password`, whose last field is the secret.
fn pgpass(ctx: &[u8], at: &Range<usize>) -> Option<DbId> {
    let ls = line_start(ctx, at.start, 2048);
    let lead = ctx.get(ls..at.start)?.strip_suffix(b":")?;
    // The line may be quoted in a command (`echo "host:5432:…" > ~/.pgpass`).
    let from =
        lead.iter().rposition(|c| c.is_ascii_whitespace() || matches!(c, b'"' | b'\'' | b'>')).map_or(0, |i| i + 1);
    let fields: Vec<&[u8]> = lead.get(from..)?.split(|&c| c == b':').collect();
    let [host, port, database, user] = fields.get(fields.len().checked_sub(4)?..)? else { return None };
    let keep = |f: &[u8]| is_token(f).then(|| text(f));
    Some(DbId {
        scheme: "postgres".into(),
        host: keep(host),
        port: is_digits(port).then(|| text(port)),
        database: keep(database),
        user: keep(user),
        has_password: true,
        ..DbId::default()
    })
}

// ---------------------------------------------------------------------------------------------
// Token types by prefix
// ---------------------------------------------------------------------------------------------

/// (provider, prefix, token_type). Keyed by provider as well because vendors reuse short prefixes
/// (`pat`, `sk_`, `ATCTT3`); the longest matching prefix wins.
const PREFIXES: &[(&str, &str, &str)] = &[
    ("github", "ghp_", "classic-pat"),
    ("github", "github_pat_", "fine-grained-pat"),
    ("github", "gho_", "oauth"),
    ("github", "ghu_", "user-to-server"),
    ("github", "ghs_", "installation"),
    ("github", "ghr_", "refresh"),
    ("gitlab", "glpat-", "personal-access"),
    ("gitlab", "gldt-", "deploy"),
    ("gitlab", "glrt-", "runner"),
    ("gitlab", "glrtr-", "runner"),
    ("gitlab", "glptt-", "trigger"),
    ("gitlab", "glcbt-", "ci-job"),
    ("gitlab", "glft-", "feed"),
    ("gitlab", "glimt-", "incoming-mail"),
    ("gitlab", "glagent-", "agent"),
    ("gitlab", "gloas-", "oauth-app-secret"),
    ("gitlab", "glsoat-", "scim"),
    ("gitlab", "glffct-", "feature-flags-client"),
    ("gitlab", "glwt-", "workspace"),
    ("gitlab", "GR1348941", "runner-registration"),
    ("slack", "xoxb-", "bot"),
    ("slack", "xoxp-", "user"),
    ("slack", "xapp-", "app"),
    ("slack", "xoxa-", "workspace-access"),
    ("slack", "xoxr-", "workspace-refresh"),
    ("slack", "xoxe.xoxp-", "rotating-user"),
    ("slack", "xoxe.xoxb-", "rotating-bot"),
    ("slack", "xoxe-", "refresh"),
    ("slack", "xoxs-", "session"),
    ("slack", "hooks.slack.com/services/", "incoming-webhook"),
    ("slack", "hooks.slack.com/workflows/", "workflow-webhook"),
    ("slack", "hooks.slack.com/triggers/", "workflow-trigger"),
    ("stripe", "sk_live_", "secret"),
    ("stripe", "sk_test_", "secret"),
    ("stripe", "rk_live_", "restricted"),
    ("stripe", "rk_test_", "restricted"),
    ("stripe", "whsec_", "webhook-secret"),
    ("aws", "ABSK", "bedrock-api-key"),
    ("aws", "bedrock-api-key-", "bedrock-short-term-api-key"),
    ("gcp", "AIza", "api-key"),
    ("gcp", "GOCSPX-", "oauth-client-secret"),
    ("gcp", "ya29.", "oauth-access-token"),
    ("gcp", "1//", "oauth-refresh-token"),
    ("openai", "sk-proj-", "project-key"),
    ("openai", "sk-svcacct-", "service-account-key"),
    ("openai", "sk-admin-", "admin-key"),
    ("openai", "sk-", "user-key"),
    ("anthropic", "sk-ant-api", "api-key"),
    ("anthropic", "sk-ant-admin", "admin-key"),
    ("huggingface", "hf_", "user-access-token"),
    ("huggingface", "api_org_", "org-api-token"),
    ("groq", "gsk_", "api-key"),
    ("replicate", "r8_", "api-token"),
    ("perplexity", "pplx-", "api-key"),
    ("xai", "xai-", "api-key"),
    ("openrouter", "sk-or-v1-", "api-key"),
    ("langsmith", "lsv2_pt_", "personal-access-token"),
    ("langsmith", "lsv2_sk_", "service-key"),
    ("pinecone", "pcsk_", "api-key"),
    ("togetherai", "tgp_v1_", "api-key"),
    ("fireworks", "fw_", "api-key"),
    ("elevenlabs", "sk_", "api-key"),
    ("voyage", "pa-", "api-key"),
    ("circleci", "CCIPAT_", "personal-token"),
    ("circleci", "CCIPRJ_", "project-token"),
    ("buildkite", "bkua_", "api-token"),
    ("harness", "pat.", "personal-access-token"),
    ("harness", "sat.", "service-account-token"),
    ("octopus", "API-", "api-key"),
    ("snyk", "snyk_uat.", "personal-access-token"),
    ("snyk", "snyk_sat.", "service-account-token"),
    ("sonarqube", "squ_", "user-token"),
    ("sonarqube", "sqp_", "project-analysis-token"),
    ("sonarqube", "sqa_", "global-analysis-token"),
    ("npm", "npm_", "access-token"),
    ("pypi", "pypi-AgEIcHlwaS5vcmc", "upload-token"),
    ("pypi", "pypi-AgENdGVzdC5weXBpLm9yZw", "testpypi-upload-token"),
    ("dockerhub", "dckr_pat_", "personal-access-token"),
    ("dockerhub", "dckr_oat_", "organization-access-token"),
    ("jfrog", "AKCp", "api-key"),
    ("jfrog", "cmVmdGtu", "reference-token"),
    ("rubygems", "rubygems_", "api-key"),
    ("nuget", "oy2", "api-key"),
    ("cratesio", "cio", "api-token"),
    ("clojars", "CLOJARS_", "deploy-token"),
    ("facebook", "EAA", "access-token"),
    ("firebase", "AAAA", "cloud-messaging-server-key"),
    ("mapbox", "sk.eyJ", "secret-token"),
    ("airtable", "pat", "personal-access-token"),
    ("airtable", "key", "legacy-api-key"),
    ("notion", "ntn_", "integration-token"),
    ("notion", "secret_", "integration-token"),
    ("linear", "lin_api_", "api-key"),
    ("atlassian", "ATATT3", "api-token"),
    ("atlassian", "ATCTT3", "access-token"),
    ("hubspot", "pat-", "private-app-token"),
    ("onepassword", "ops_", "service-account-token"),
    ("onepassword", "A3-", "secret-key"),
    ("doppler", "dp.pt.", "personal-token"),
    ("doppler", "dp.ct.", "cli-token"),
    ("doppler", "dp.st.", "service-token"),
    ("doppler", "dp.sa.", "service-account-token"),
    ("doppler", "dp.scim.", "scim-token"),
    ("doppler", "dp.audit.", "audit-token"),
    ("hashicorp_vault", "hvs.", "service-token"),
    ("hashicorp_vault", "hvb.", "batch-token"),
    ("hashicorp_vault", "hvr.", "recovery-token"),
    ("hashicorp_vault", "s.", "legacy-service-token"),
    ("pulumi", "pul-", "access-token"),
    ("databricks", "dapi", "personal-access-token"),
    ("newrelic", "NRAK-", "user-api-key"),
    ("newrelic", "NRAA-", "admin-api-key"),
    ("newrelic", "NRII-", "insights-insert-key"),
    ("newrelic", "NRIQ-", "insights-query-key"),
    ("newrelic", "NRJS-", "browser-key"),
    ("sentry", "sntrys_", "org-auth-token"),
    ("sentry", "sntryu_", "user-auth-token"),
    ("grafana", "glc_", "cloud-access-policy-token"),
    ("grafana", "glsa_", "service-account-token"),
    ("grafana", "eyJrIjoi", "api-key"),
    ("dynatrace", "dt0c01.", "api-token"),
    ("contentful", "CFPAT-", "personal-access-token"),
    ("postman", "PMAK-", "api-key"),
    ("typeform", "tfp_", "personal-access-token"),
    ("figma", "figd_", "personal-access-token"),
    ("frameio", "fio-u-", "developer-token"),
    ("dropbox", "sl.", "short-lived-access-token"),
    ("zapier", "hooks.zapier.com/hooks/catch/", "catch-hook"),
    ("launchdarkly", "api-", "api-token"),
    ("launchdarkly", "sdk-", "sdk-key"),
    ("honeycomb", "hcaik_", "ingest-key"),
    ("honeycomb", "hcaic_", "configuration-key"),
    ("alibaba", "LTAI", "access-key-id"),
    ("digitalocean", "dop_v1_", "personal-access-token"),
    ("digitalocean", "doo_v1_", "oauth-token"),
    ("digitalocean", "dor_v1_", "refresh-token"),
    ("heroku", "HRKU-", "api-key"),
    ("cloudflare", "cfut_", "user-api-token"),
    ("cloudflare", "cfat_", "account-api-token"),
    ("cloudflare", "cfk_", "global-api-key"),
    ("cloudflare", "v1.0-", "origin-ca-key"),
    ("vercel", "vcp_", "personal-access-token"),
    ("vercel", "vci_", "integration-token"),
    ("vercel", "vca_", "access-token"),
    ("vercel", "vcr_", "refresh-token"),
    ("netlify", "nfp_", "personal-access-token"),
    ("supabase", "sbp_", "personal-access-token"),
    ("supabase", "sb_secret_", "secret-key"),
    ("planetscale", "pscale_tkn_", "service-token"),
    ("planetscale", "pscale_pw_", "password"),
    ("planetscale", "pscale_oauth_", "oauth-token"),
    ("tencent", "AKID", "secret-id"),
    ("twilio", "AC", "account-sid"),
    ("twilio", "SK", "api-key-sid"),
    ("sendgrid", "SG.", "api-key"),
    ("mailgun", "key-", "api-key"),
    ("square", "EAAA", "access-token"),
    ("square", "sq0atp-", "access-token"),
    ("square", "sq0csp-", "oauth-secret"),
    ("shopify", "shpat_", "admin-access-token"),
    ("shopify", "shpca_", "custom-app-token"),
    ("shopify", "shppa_", "private-app-token"),
    ("shopify", "shpss_", "shared-secret"),
    ("paypal", "access_token$production$", "production-access-token"),
    ("paypal", "access_token$sandbox$", "sandbox-access-token"),
    ("adyen", "AQE", "api-key"),
    ("razorpay", "rzp_live_", "live-key-id"),
    ("plaid", "access-production-", "production-access-token"),
    ("plaid", "access-development-", "development-access-token"),
    ("age", "AGE-SECRET-KEY-1", "secret-key"),
    ("bitbucket", "ATBB", "app-password"),
    ("bitbucket", "ATCTT3", "access-token"),
    ("bitbucket", "BBDC-", "data-center-token"),
    ("sourcegraph", "sgp_", "access-token"),
    ("sourcegraph", "sgs_", "subscription-token"),
];

/// Prefixes of credentials that live an hour or a few: GitHub installation tokens, Slack's
/// rotated tokens, Google OAuth access tokens, GitLab CI job tokens (valid while the job runs),
/// Dropbox short-lived tokens, Bedrock short-term keys.
const SHORT_LIVED_PREFIXES: &[&str] =
    &["ghs_", "xoxe.xoxp-", "xoxe.xoxb-", "ya29.", "glcbt-", "sl.", "bedrock-api-key-"];

fn apply_prefix(cx: &Cx, out: &mut Inspection) {
    let secret = cx.secret.trim_ascii();
    let secret = secret.strip_prefix(b"https://").or_else(|| secret.strip_prefix(b"http://")).unwrap_or(secret);
    let hit = PREFIXES
        .iter()
        .filter(|(p, prefix, _)| *p == cx.provider && secret.starts_with(prefix.as_bytes()))
        .max_by_key(|(_, prefix, _)| prefix.len());
    let Some(&(_, prefix, token_type)) = hit else { return };
    // The prefix names the credential more precisely than a generic reader (e.g. `jwt` for a
    // GitLab CI job token), so it wins.
    detail(out, "token_type", token_type);
    if SHORT_LIVED_PREFIXES.contains(&prefix) {
        out.short_lived = true;
    }
    let mode = match cx.provider {
        "stripe" if prefix.contains("_live_") => Some("live"),
        "stripe" if prefix.contains("_test_") => Some("test"),
        _ => None,
    };
    if let Some(mode) = mode {
        detail(out, "mode", mode);
    }
    set_identifier(
        out,
        match mode {
            Some(mode) => format!("{}:{token_type}:{mode}", cx.provider),
            None => format!("{}:{token_type}", cx.provider),
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    // --- builders: every fake credential is assembled here, at test time ---------------------

    fn b64(data: &[u8]) -> String {
        const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for chunk in data.chunks(3) {
            let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }

    fn b64url(data: &[u8]) -> String {
        b64(data).trim_end_matches('=').replace('+', "-").replace('/', "_")
    }

    fn wrap(s: &str, width: usize) -> String {
        s.as_bytes().chunks(width).map(|c| String::from_utf8_lossy(c).into_owned()).collect::<Vec<_>>().join("\n")
    }

    /// Deterministic filler bytes: tests must not depend on a random source.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn bytes(&mut self, n: usize) -> Vec<u8> {
            (0..n).map(|_| self.next() as u8).collect()
        }
        fn alnum(&mut self, n: usize) -> String {
            const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
            (0..n).map(|_| A[(self.next() % A.len() as u64) as usize] as char).collect()
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        let len = content.len();
        if len < 0x80 {
            out.push(len as u8);
        } else if len < 0x100 {
            out.extend([0x81, len as u8]);
        } else {
            out.extend([0x82, (len >> 8) as u8, len as u8]);
        }
        out.extend_from_slice(content);
        out
    }

    fn seq(items: &[Vec<u8>]) -> Vec<u8> {
        tlv(0x30, &items.concat())
    }

    fn int(magnitude: &[u8]) -> Vec<u8> {
        let mut v = magnitude.to_vec();
        if v.first().is_some_and(|b| b & 0x80 != 0) {
            v.insert(0, 0);
        }
        tlv(0x02, &v)
    }

    /// An integer of exactly `bits` bits with arbitrary lower bytes.
    fn big(rng: &mut Rng, bits: usize) -> Vec<u8> {
        let mut v = rng.bytes(bits.div_ceil(8));
        let top_bits = bits - (v.len() - 1) * 8;
        v[0] = (v[0] | 0x80) >> (8 - top_bits);
        v[0] |= 1 << (top_bits - 1);
        v
    }

    fn rsa_pkcs1(rng: &mut Rng, bits: usize) -> Vec<u8> {
        let half = bits / 2;
        seq(&[
            int(&[0]),
            int(&big(rng, bits)),
            int(&[1, 0, 1]),
            int(&big(rng, bits)),
            int(&big(rng, half)),
            int(&big(rng, half)),
        ])
    }

    fn pem(label: &str, der_bytes: &[u8]) -> String {
        format!("-----BEGIN {label}-----\n{}\n-----END {label}-----\n", wrap(&b64(der_bytes), 64))
    }

    fn ssh_string(s: &[u8]) -> Vec<u8> {
        let mut out = (s.len() as u32).to_be_bytes().to_vec();
        out.extend_from_slice(s);
        out
    }

    fn ssh_mpint(m: &[u8]) -> Vec<u8> {
        let mut v = m.to_vec();
        if v.first().is_some_and(|b| b & 0x80 != 0) {
            v.insert(0, 0);
        }
        ssh_string(&v)
    }

    fn ssh_rsa_public(rng: &mut Rng, bits: usize) -> Vec<u8> {
        [ssh_string(b"ssh-rsa"), ssh_mpint(&[1, 0, 1]), ssh_mpint(&big(rng, bits))].concat()
    }

    fn openssh_pem(rng: &mut Rng, cipher: &str, public: &[u8]) -> String {
        let kdf: &[u8] = if cipher == "none" { b"none" } else { b"bcrypt" };
        let kdf_options =
            if cipher == "none" { Vec::new() } else { [ssh_string(&rng.bytes(16)), vec![0, 0, 0, 16]].concat() };
        let blob = [
            b"openssh-key-v1\0".to_vec(),
            ssh_string(cipher.as_bytes()),
            ssh_string(kdf),
            ssh_string(&kdf_options),
            1u32.to_be_bytes().to_vec(),
            ssh_string(public),
            ssh_string(&rng.bytes(64)),
        ]
        .concat();
        format!("-----BEGIN OPENSSH PRIVATE KEY-----\n{}\n-----END OPENSSH PRIVATE KEY-----\n", wrap(&b64(&blob), 70))
    }

    fn jwt(header: &str, claims: &str) -> String {
        format!("{}.{}.{}", b64url(header.as_bytes()), b64url(claims.as_bytes()), b64url(&Rng(7).bytes(32)))
    }

    /// Runs `inspect` with `secret` embedded in `context`, located by its first occurrence.
    fn run(rule: &str, provider: &str, kind: &str, secret: &str, context: &str) -> Inspection {
        let start = context.find(secret).expect("secret is in its context");
        let out = inspect(rule, provider, kind, secret.as_bytes(), context.as_bytes(), start..start + secret.len());
        assert_no_leak(secret, &out);
        out
    }

    fn alone(rule: &str, provider: &str, kind: &str, secret: &str) -> Inspection {
        run(rule, provider, kind, secret, secret)
    }

    fn assert_no_leak(secret: &str, out: &Inspection) {
        if secret.len() < MIN_GUARDED_SECRET {
            return;
        }
        let id = out.identifier.as_deref().unwrap_or_default();
        assert!(!id.contains(secret), "identifier {id:?} leaks the secret");
        for (k, v) in &out.details {
            assert!(!v.contains(secret), "detail {k}={v:?} leaks the secret");
        }
        for p in &out.public_ids {
            assert!(!p.contains(secret) || is_aws_key_id(p.as_bytes()), "public id {p:?} leaks the secret");
        }
    }

    fn d<'a>(out: &'a Inspection, key: &str) -> Option<&'a str> {
        out.details.get(key).map(String::as_str)
    }

    // --- AWS ----------------------------------------------------------------------------------

    #[test]
    fn aws_account_from_key_id_test_vector() {
        let id = format!("ASIA{}", "Y34FZKBOKMUTVV7A");
        assert_eq!(aws_account(id.as_bytes()), Some(609_629_065_308));
        let out = alone("aws-access-key-id", "aws", "cloud_access_key", &id);
        assert_eq!(out.identifier.as_deref(), Some("aws:609629065308:ASIA\u{2026}VV7A"));
        assert_eq!(d(&out, "account_id"), Some("609629065308"));
        assert_eq!(d(&out, "key_type"), Some("temporary"));
        assert!(out.short_lived);
        assert_eq!(out.public_ids, vec![id]);
    }

    #[test]
    fn aws_long_term_key_and_old_generation_ids() {
        let id = format!("AKIA{}", "Y34FZKBOKMUTVV7A");
        let out = alone("aws-access-key-id", "aws", "cloud_access_key", &id);
        assert_eq!(d(&out, "key_type"), Some("long-term"));
        assert_eq!(d(&out, "account_id"), Some("609629065308"));
        assert!(!out.short_lived);

        // Ids from before the account was encoded (5th character A-P): no account is made up.
        let old = format!("AKIA{}", "IOSZPQ4KMNB2XH7T");
        let out = alone("aws-access-key-id", "aws", "cloud_access_key", &old);
        assert_eq!(out.identifier.as_deref(), Some("aws:AKIA\u{2026}XH7T"));
        assert_eq!(d(&out, "account_id"), None);
        assert_eq!(out.public_ids, vec![old]);
    }

    #[test]
    fn aws_account_is_zero_padded_to_twelve_digits() {
        // Encode account 12345 (new generation) into a key id by running the decoder backwards.
        let z: u64 = (1u64 << 47) | (12_345u64 << 7);
        let mut raw = z.to_be_bytes()[2..8].to_vec();
        raw.extend([0u8; 4]);
        let mut id = String::from("AKIA");
        let mut acc: u64 = 0;
        let mut bits = 0;
        for b in raw {
            acc = (acc << 8) | u64::from(b);
            bits += 8;
            while bits >= 5 {
                bits -= 5;
                id.push(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"[((acc >> bits) & 31) as usize] as char);
            }
        }
        assert_eq!(aws_account(id.as_bytes()), Some(12_345));
        let out = alone("aws-access-key-id", "aws", "cloud_access_key", &id);
        assert_eq!(d(&out, "account_id"), Some("000000012345"));
    }

    #[test]
    fn aws_secret_key_is_named_by_the_key_id_beside_it() {
        let mut rng = Rng(1);
        let id_a = format!("AKIA{}", "Y34FZKBOKMUTVV7A");
        let id_b = format!("ASIA{}", "Y34FZKBOKMUTWQ2C");
        let secret_a = rng.alnum(40);
        let secret_b = rng.alnum(40);
        let ctx = format!(
            "[a]\naws_access_key_id = {id_a}\naws_secret_access_key = {secret_a}\n[b]\naws_access_key_id = {id_b}\naws_secret_access_key = {secret_b}\n"
        );
        let out = run("aws-secret-access-key", "aws", "cloud_access_key", &secret_a, &ctx);
        assert_eq!(out.public_ids, vec![id_a.clone()]);
        assert_eq!(d(&out, "key_type"), Some("long-term"));
        let out = run("aws-secret-access-key", "aws", "cloud_access_key", &secret_b, &ctx);
        assert_eq!(out.public_ids, vec![id_b]);
        assert!(out.short_lived);

        // The id may follow the secret, as in some CSV and code layouts.
        let ctx = format!("creds = new Creds(\n  secret: \"{secret_a}\",\n  id: \"{id_a}\")");
        let out = run("aws-secret-access-key", "aws", "cloud_access_key", &secret_a, &ctx);
        assert_eq!(out.identifier.as_deref(), Some("aws:609629065308:AKIA\u{2026}VV7A"));

        // No id nearby: nothing is named.
        let out = alone("aws-secret-access-key", "aws", "cloud_access_key", &secret_a);
        assert_eq!(out.identifier.as_deref(), Some("aws:aws-secret-access-key"));
        assert!(out.public_ids.is_empty());
    }

    #[test]
    fn aws_session_token_is_temporary() {
        let mut rng = Rng(2);
        let id = format!("ASIA{}", "Y34FZKBOKMUTVV7A");
        let token = rng.alnum(300);
        let ctx = format!(
            "{{\"Credentials\": {{\"AccessKeyId\": \"{id}\", \"SecretAccessKey\": \"{}\", \"SessionToken\": \"{token}\"}}}}",
            rng.alnum(40)
        );
        let out = run("aws-session-token", "aws", "session_token", &token, &ctx);
        assert!(out.short_lived);
        assert_eq!(d(&out, "key_type"), Some("temporary"));
        assert_eq!(d(&out, "account_id"), Some("609629065308"));
        assert_eq!(out.public_ids, vec![id]);

        let out = alone("aws-session-token", "aws", "session_token", &token);
        assert!(out.short_lived);
    }

    #[test]
    fn aws_bedrock_keys() {
        let mut rng = Rng(3);
        let long =
            format!("ABSK{}", b64(format!("BedrockAPIKey-x7q2-at-{}:{}", "210987654321", rng.alnum(40)).as_bytes()));
        let out = alone("aws-bedrock-api-key", "aws", "api_key", &long);
        assert_eq!(out.identifier.as_deref(), Some("aws:210987654321:BedrockAPIKey-x7q2"));
        assert_eq!(d(&out, "account_id"), Some("210987654321"));
        assert_eq!(d(&out, "user"), Some("BedrockAPIKey-x7q2"));
        assert_eq!(d(&out, "token_type"), Some("bedrock-api-key"));
        assert!(!out.short_lived);

        let id = format!("ASIA{}", "Y34FZKBOKMUTVV7A");
        let url = format!(
            "bedrock.amazonaws.com/?Action=CallWithBearerToken&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={id}%2F20250611%2Fus-east-1%2Fbedrock%2Faws4_request&X-Amz-Date=20250611T091512Z&X-Amz-Expires=43200&X-Amz-Security-Token={}&Version=1",
            rng.alnum(200)
        );
        let short = format!("bedrock-api-key-{}", b64(url.as_bytes()));
        let out = alone("aws-bedrock-short-term-api-key", "aws", "session_token", &short);
        assert!(out.short_lived);
        assert_eq!(out.expires, Some(1_749_633_312 + 43_200));
        assert_eq!(out.public_ids, vec![id]);
        assert_eq!(d(&out, "token_type"), Some("bedrock-short-term-api-key"));
    }

    // --- GCP ----------------------------------------------------------------------------------

    fn gcp_key_pem(rng: &mut Rng) -> String {
        let inner = rsa_pkcs1(rng, 2048);
        let p8 = seq(&[int(&[0]), seq(&[tlv(0x06, OID_RSA), vec![0x05, 0]]), tlv(0x04, &inner)]);
        pem("PRIVATE KEY", &p8)
    }

    #[test]
    fn gcp_service_account_key_file() {
        let mut rng = Rng(4);
        let key_id = format!("{:x}{:x}", rng.next(), rng.next());
        let pem = gcp_key_pem(&mut rng).replace('\n', "\\n");
        let json = format!(
            "{{\n  \"type\": \"service_account\",\n  \"project_id\": \"ledger-sync\",\n  \"private_key_id\": \"{key_id}\",\n  \"private_key\": \"{pem}\",\n  \"client_email\": \"deploy-bot@ledger-sync.iam.gserviceaccount.com\"\n}}"
        );
        let out = run("gcp-service-account-key", "gcp", "service_account_key", &pem, &json);
        assert_eq!(out.identifier.as_deref(), Some("gcp:deploy-bot@ledger-sync.iam.gserviceaccount.com"));
        assert_eq!(d(&out, "project_id"), Some("ledger-sync"));
        assert_eq!(d(&out, "private_key_id"), Some(key_id.as_str()));
        assert_eq!(out.public_ids, vec!["deploy-bot@ledger-sync.iam.gserviceaccount.com".to_string(), key_id.clone()]);
        // The key material itself is read too.
        assert_eq!(d(&out, "algorithm"), Some("rsa"));
        assert_eq!(d(&out, "bits"), Some("2048"));

        // The same file escaped inside another JSON or HCL string.
        let escaped = json.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "");
        let ctx = format!("data = {{ \"key.json\" = \"{escaped}\" }}");
        let secret = pem.replace('\\', "\\\\");
        let out = run("gcp-service-account-key", "gcp", "service_account_key", &secret, &ctx);
        assert_eq!(out.identifier.as_deref(), Some("gcp:deploy-bot@ledger-sync.iam.gserviceaccount.com"));
        assert_eq!(d(&out, "private_key_id"), Some(key_id.as_str()));
        assert_eq!(d(&out, "bits"), Some("2048"));

        // Without project_id the email's domain still names the project.
        let ctx = format!("{{\"private_key\": \"{pem}\", \"client_email\": \"ci@infra-ops.iam.gserviceaccount.com\"}}");
        let out = run("gcp-service-account-key", "gcp", "service_account_key", &pem, &ctx);
        assert_eq!(d(&out, "project_id"), Some("infra-ops"));
    }

    #[test]
    fn gcp_prefixed_tokens() {
        let mut rng = Rng(5);
        let out = alone("gcp-api-key", "gcp", "api_key", &format!("AIza{}", rng.alnum(35)));
        assert_eq!(d(&out, "token_type"), Some("api-key"));
        assert_eq!(out.identifier.as_deref(), Some("gcp:api-key"));
        let out = alone("gcp-oauth-access-token", "gcp", "oauth_token", &format!("ya29.{}", rng.alnum(80)));
        assert_eq!(d(&out, "token_type"), Some("oauth-access-token"));
        assert!(out.short_lived);
    }

    // --- GitHub, GitLab, Slack, Stripe -------------------------------------------------------

    #[test]
    fn github_token_types() {
        let mut rng = Rng(6);
        for (prefix, ty, short) in [
            ("ghp_", "classic-pat", false),
            ("gho_", "oauth", false),
            ("ghu_", "user-to-server", false),
            ("ghs_", "installation", true),
            ("ghr_", "refresh", false),
        ] {
            let out = alone("github-x", "github", "personal_access_token", &format!("{prefix}{}", rng.alnum(36)));
            assert_eq!(out.identifier, Some(format!("github:{ty}")));
            assert_eq!(d(&out, "token_type"), Some(ty));
            assert_eq!(out.short_lived, short, "{prefix}");
        }
        let fine = format!("github_pat_{}_{}", rng.alnum(22), rng.alnum(59));
        let out = alone("github-pat-fine-grained", "github", "personal_access_token", &fine);
        assert_eq!(out.identifier.as_deref(), Some("github:fine-grained-pat"));
    }

    #[test]
    fn gitlab_token_types() {
        let mut rng = Rng(7);
        for (prefix, ty) in [
            ("glpat-", "personal-access"),
            ("gldt-", "deploy"),
            ("glrt-", "runner"),
            ("gloas-", "oauth-app-secret"),
            ("glptt-", "trigger"),
            ("glft-", "feed"),
            ("glimt-", "incoming-mail"),
            ("glagent-", "agent"),
            ("glsoat-", "scim"),
            ("glffct-", "feature-flags-client"),
            ("glwt-", "workspace"),
        ] {
            let out = alone("gitlab-x", "gitlab", "app_token", &format!("{prefix}{}", rng.alnum(20)));
            assert_eq!(d(&out, "token_type"), Some(ty), "{prefix}");
            assert_eq!(out.identifier, Some(format!("gitlab:{ty}")));
        }
        // A CI job token in its JWT form: claims are read, the prefix still names the type.
        let token = format!(
            "glcbt-{}",
            jwt(
                r#"{"alg":"RS256"}"#,
                r#"{"iss":"gitlab.example.com","sub":"job_42","iat":1700000000,"exp":1700003600}"#
            )
        );
        let out = alone("gitlab-ci-job-token", "gitlab", "session_token", &token);
        assert_eq!(d(&out, "token_type"), Some("ci-job"));
        assert_eq!(out.identifier.as_deref(), Some("jwt:iss=gitlab.example.com;sub=job_42"));
        assert!(out.short_lived);
    }

    #[test]
    fn slack_token_types() {
        let mut rng = Rng(8);
        let digits = |rng: &mut Rng| (0..11).map(|_| char::from(b'0' + (rng.next() % 10) as u8)).collect::<String>();
        let bot = format!("xoxb-{}-{}-{}", digits(&mut rng), digits(&mut rng), rng.alnum(24));
        let out = alone("slack-bot-token", "slack", "bot_token", &bot);
        assert_eq!(out.identifier.as_deref(), Some("slack:bot"));
        assert!(!out.short_lived);
        // The team is not in a bot token: nothing beyond the type is claimed.
        assert_eq!(out.details.len(), 1);

        let rotating = format!("xoxe.xoxp-1-{}", rng.alnum(160));
        let out = alone("slack-config-access-token", "slack", "oauth_token", &rotating);
        assert_eq!(d(&out, "token_type"), Some("rotating-user"));
        assert!(out.short_lived);

        let refresh = format!("xoxe-1-{}", rng.alnum(150));
        assert_eq!(
            d(&alone("slack-config-refresh-token", "slack", "oauth_token", &refresh), "token_type"),
            Some("refresh")
        );

        let hook = format!("https://hooks.slack.com/services/T{}/B{}/{}", "0A1B2C3D4", "9Z8Y7X6W5", rng.alnum(24));
        let out = alone("slack-webhook-url", "slack", "webhook_url", &hook);
        assert_eq!(d(&out, "token_type"), Some("incoming-webhook"));
        assert_eq!(out.identifier.as_deref(), Some("slack:incoming-webhook"));
    }

    #[test]
    fn stripe_type_and_mode() {
        let mut rng = Rng(9);
        let out = alone("stripe-secret-key", "stripe", "api_key", &format!("sk_{}_{}", "live", rng.alnum(24)));
        assert_eq!((d(&out, "token_type"), d(&out, "mode")), (Some("secret"), Some("live")));
        assert_eq!(out.identifier.as_deref(), Some("stripe:secret:live"));
        let out = alone("stripe-test-key", "stripe", "api_key", &format!("rk_{}_{}", "test", rng.alnum(24)));
        assert_eq!((d(&out, "token_type"), d(&out, "mode")), (Some("restricted"), Some("test")));
        let out = alone("stripe-webhook-secret", "stripe", "webhook_secret", &format!("whsec_{}", rng.alnum(32)));
        assert_eq!(d(&out, "token_type"), Some("webhook-secret"));
        assert_eq!(d(&out, "mode"), None);
    }

    // --- JWT ----------------------------------------------------------------------------------

    #[test]
    fn jwt_claims() {
        let token = jwt(
            r#"{"alg":"RS256","typ":"JWT"}"#,
            r#"{"iss":"https://auth.example.com","sub":"svc-billing","aud":["api","admin"],"iat":1700000000,"exp":1700000900}"#,
        );
        let out = alone("jwt", "generic", "session_token", &token);
        assert_eq!(out.identifier.as_deref(), Some("jwt:iss=https://auth.example.com;sub=svc-billing"));
        assert_eq!(d(&out, "algorithm"), Some("RS256"));
        assert_eq!(d(&out, "aud"), Some("api,admin"));
        assert_eq!(d(&out, "iat"), Some("1700000000"));
        assert_eq!(d(&out, "exp"), Some("1700000900"));
        assert_eq!(out.expires, Some(1_700_000_900));
        assert!(out.short_lived);
        assert_eq!(out.public_ids, vec!["https://auth.example.com/svc-billing".to_string()]);

        // A year-long token, padded base64, string aud, float times: long-lived.
        let padded = format!(
            "{}.{}.{}",
            b64(br#"{"alg":"HS256"}"#).replace('+', "-").replace('/', "_"),
            b64(br#"{"iss":"acme","aud":"web","iat":1700000000.5,"exp":1731536000}"#)
                .replace('+', "-")
                .replace('/', "_"),
            b64url(&Rng(11).bytes(32))
        );
        let out = alone("generic-token-assignment", "generic", "generic_secret", &padded);
        assert_eq!(out.identifier.as_deref(), Some("jwt:iss=acme"));
        assert_eq!(d(&out, "aud"), Some("web"));
        assert_eq!(d(&out, "iat"), Some("1700000000"));
        assert!(!out.short_lived);
        assert!(out.public_ids.is_empty());
    }

    #[test]
    fn kubernetes_service_account_tokens() {
        let legacy = jwt(
            r#"{"alg":"RS256","kid":"k1"}"#,
            r#"{"iss":"kubernetes/serviceaccount","kubernetes.io/serviceaccount/namespace":"ci","kubernetes.io/serviceaccount/service-account.name":"deployer","sub":"system:serviceaccount:ci:deployer"}"#,
        );
        let out = alone("kubernetes-service-account-token", "kubernetes", "service_account_key", &legacy);
        assert_eq!(d(&out, "namespace"), Some("ci"));
        assert_eq!(d(&out, "service_account"), Some("deployer"));
        assert_eq!(d(&out, "token_type"), Some("kubernetes-service-account"));
        assert_eq!(out.expires, None);
        assert!(!out.short_lived);

        let bound = jwt(
            r#"{"alg":"RS256"}"#,
            r#"{"aud":["https://kubernetes.default.svc"],"exp":1767225600,"iat":1735689600,"iss":"https://kubernetes.default.svc.cluster.local","kubernetes.io":{"namespace":"payments","serviceaccount":{"name":"worker","uid":"0b6c"}},"sub":"system:serviceaccount:payments:worker"}"#,
        );
        let out = alone("kubernetes-service-account-token", "kubernetes", "service_account_key", &bound);
        assert_eq!(d(&out, "namespace"), Some("payments"));
        assert_eq!(d(&out, "service_account"), Some("worker"));
        assert_eq!(out.expires, Some(1_767_225_600));

        // In a Secret manifest the JWT is base64-encoded once more.
        let wrapped = b64(legacy.as_bytes());
        let out = alone("kubernetes-service-account-token-secret", "kubernetes", "service_account_key", &wrapped);
        assert_eq!(d(&out, "service_account"), Some("deployer"));
        assert_eq!(
            out.identifier.as_deref(),
            Some("jwt:iss=kubernetes/serviceaccount;sub=system:serviceaccount:ci:deployer")
        );
    }

    // --- private keys -------------------------------------------------------------------------

    fn key(secret: &str) -> Inspection {
        alone("private-key", "generic", "private_key", secret)
    }

    #[test]
    fn rsa_keys_pkcs1_and_pkcs8() {
        let mut rng = Rng(12);
        let der_bytes = rsa_pkcs1(&mut rng, 2048);
        let out = key(&pem("RSA PRIVATE KEY", &der_bytes));
        assert_eq!(out.identifier.as_deref(), Some("key:rsa-2048"));
        assert_eq!(
            (d(&out, "algorithm"), d(&out, "bits"), d(&out, "encrypted")),
            (Some("rsa"), Some("2048"), Some("false"))
        );

        let p8 = seq(&[int(&[0]), seq(&[tlv(0x06, OID_RSA), vec![0x05, 0]]), tlv(0x04, &rsa_pkcs1(&mut rng, 3072))]);
        assert_eq!(key(&pem("PRIVATE KEY", &p8)).identifier.as_deref(), Some("key:rsa-3072"));
    }

    #[test]
    fn ec_dsa_and_edwards_keys() {
        let mut rng = Rng(13);
        let p256 = [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
        let sec1_key = seq(&[
            int(&[1]),
            tlv(0x04, &rng.bytes(32)),
            tlv(0xa0, &tlv(0x06, &p256)),
            tlv(0xa1, &tlv(0x03, &rng.bytes(66))),
        ]);
        let out = key(&pem("EC PRIVATE KEY", &sec1_key));
        assert_eq!(out.identifier.as_deref(), Some("key:ec-p256"));
        assert_eq!((d(&out, "curve"), d(&out, "bits")), (Some("p256"), Some("256")));

        let p384 = [0x2b, 0x81, 0x04, 0x00, 0x22];
        let inner = seq(&[int(&[1]), tlv(0x04, &rng.bytes(48))]);
        let p8 = seq(&[int(&[0]), seq(&[tlv(0x06, OID_EC), tlv(0x06, &p384)]), tlv(0x04, &inner)]);
        assert_eq!(key(&pem("PRIVATE KEY", &p8)).identifier.as_deref(), Some("key:ec-p384"));

        let k1 = [0x2b, 0x81, 0x04, 0x00, 0x0a];
        let sec1_k1 = seq(&[int(&[1]), tlv(0x04, &rng.bytes(32)), tlv(0xa0, &tlv(0x06, &k1))]);
        assert_eq!(key(&pem("EC PRIVATE KEY", &sec1_k1)).identifier.as_deref(), Some("key:ec-secp256k1"));

        let dsa_key = seq(&[
            int(&[0]),
            int(&big(&mut rng, 2048)),
            int(&big(&mut rng, 256)),
            int(&big(&mut rng, 2047)),
            int(&big(&mut rng, 2047)),
            int(&big(&mut rng, 255)),
        ]);
        assert_eq!(key(&pem("DSA PRIVATE KEY", &dsa_key)).identifier.as_deref(), Some("key:dsa-2048"));

        let ed = seq(&[int(&[0]), seq(&[tlv(0x06, OID_ED25519)]), tlv(0x04, &tlv(0x04, &rng.bytes(32)))]);
        let out = key(&pem("PRIVATE KEY", &ed));
        assert_eq!(out.identifier.as_deref(), Some("key:ed25519"));
        assert_eq!(d(&out, "bits"), None);
    }

    #[test]
    fn encrypted_pem_keys() {
        let mut rng = Rng(14);
        let body = b64(&rng.bytes(600));
        let out = key(&format!(
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\n{}\n-----END ENCRYPTED PRIVATE KEY-----",
            wrap(&body, 64)
        ));
        assert_eq!(out.identifier.as_deref(), Some("key:unknown (encrypted)"));
        assert_eq!(d(&out, "encrypted"), Some("true"));

        let legacy = format!(
            "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,{:016X}{:016X}\n\n{}\n-----END RSA PRIVATE KEY-----",
            rng.next(),
            rng.next(),
            wrap(&body, 64)
        );
        let out = key(&legacy);
        assert_eq!(out.identifier.as_deref(), Some("key:rsa (encrypted)"));
        assert_eq!(d(&out, "algorithm"), Some("rsa"));
    }

    #[test]
    fn pem_in_source_code_framing() {
        let mut rng = Rng(15);
        let body = wrap(&b64(&rsa_pkcs1(&mut rng, 2048)), 64);
        let lines: Vec<&str> = body.lines().collect();
        // Go string concatenation, one quoted line per source line.
        let go = format!(
            "-----BEGIN RSA PRIVATE KEY-----\\n\" +\n\t\"{}\\n\" +\n\t\"-----END RSA PRIVATE KEY-----",
            lines.join("\\n\" +\n\t\"")
        );
        assert_eq!(key(&go).identifier.as_deref(), Some("key:rsa-2048"));
        // Double-escaped JSON.
        let json =
            format!("-----BEGIN RSA PRIVATE KEY-----\\\\n{}\\\\n-----END RSA PRIVATE KEY-----", lines.join("\\\\n"));
        assert_eq!(key(&json).identifier.as_deref(), Some("key:rsa-2048"));
        // A list of lines.
        let list = format!(
            "-----BEGIN RSA PRIVATE KEY-----\",\n  \"{}\",\n  \"-----END RSA PRIVATE KEY-----",
            lines.join("\",\n  \"")
        );
        assert_eq!(key(&list).identifier.as_deref(), Some("key:rsa-2048"));
        // Base64-encoded PEM, as in kubeconfig client-key-data.
        let wrapped = b64(pem("RSA PRIVATE KEY", &rsa_pkcs1(&mut rng, 4096)).as_bytes());
        let out = alone("private-key-base64", "generic", "private_key", &wrapped);
        assert_eq!(out.identifier.as_deref(), Some("key:rsa-4096"));
    }

    #[test]
    fn openssh_keys() {
        let mut rng = Rng(16);
        let public = ssh_rsa_public(&mut rng, 3072);
        let out = key(&openssh_pem(&mut rng, "none", &public));
        assert_eq!(out.identifier.as_deref(), Some("key:rsa-3072"));
        assert_eq!(d(&out, "encrypted"), Some("false"));

        let ed = [ssh_string(b"ssh-ed25519"), ssh_string(&rng.bytes(32))].concat();
        let out = key(&openssh_pem(&mut rng, "aes256-ctr", &ed));
        assert_eq!(out.identifier.as_deref(), Some("key:ed25519 (encrypted)"));
        assert_eq!(d(&out, "encrypted"), Some("true"));

        let ec = [ssh_string(b"ecdsa-sha2-nistp384"), ssh_string(b"nistp384"), ssh_string(&rng.bytes(97))].concat();
        assert_eq!(key(&openssh_pem(&mut rng, "none", &ec)).identifier.as_deref(), Some("key:ec-p384"));
    }

    #[test]
    fn putty_keys() {
        let mut rng = Rng(17);
        let public = wrap(&b64(&ssh_rsa_public(&mut rng, 2048)), 64);
        let private = wrap(&b64(&rng.bytes(600)), 64);
        let ppk = |encryption: &str| {
            format!(
                "PuTTY-User-Key-File-2: ssh-rsa\r\nEncryption: {encryption}\r\nComment: deploy@build-01\r\nPublic-Lines: {}\r\n{}\r\nPrivate-Lines: {}\r\n{}\r\n",
                public.lines().count(),
                public.replace('\n', "\r\n"),
                private.lines().count(),
                private.replace('\n', "\r\n")
            )
        };
        let out = alone("putty-private-key", "generic", "private_key", &ppk("none"));
        assert_eq!(out.identifier.as_deref(), Some("key:rsa-2048"));
        let out = alone("private-key-encrypted", "generic", "private_key", &ppk("aes256-cbc"));
        assert_eq!(out.identifier.as_deref(), Some("key:rsa-2048 (encrypted)"));

        let ed = b64(&[ssh_string(b"ssh-ed25519"), ssh_string(&rng.bytes(32))].concat());
        let v3 = format!(
            "PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\nComment: ci\nPublic-Lines: 1\n{ed}\nPrivate-Lines: 1\n{}\n",
            b64(&rng.bytes(48))
        );
        assert_eq!(
            alone("putty-private-key", "generic", "private_key", &v3).identifier.as_deref(),
            Some("key:ed25519")
        );
    }

    #[test]
    fn unparseable_key_bodies_still_report_the_label() {
        let mut rng = Rng(18);
        let junk = wrap(&format!("M{}", rng.alnum(200)), 64);
        let out = key(&format!("-----BEGIN EC PRIVATE KEY-----\n{junk}\n-----END EC PRIVATE KEY-----"));
        assert_eq!(out.identifier.as_deref(), Some("key:ec"));
        let out = key(&format!("-----BEGIN PRIVATE KEY-----\n{junk}\n-----END PRIVATE KEY-----"));
        assert_eq!(out.identifier.as_deref(), Some("key:unknown"));
        // Armor that is not parsed here is not described.
        let pgp = format!("-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nlQ{junk}\n-----END PGP PRIVATE KEY BLOCK-----");
        let out = alone("pgp-private-key-block", "generic", "private_key", &pgp);
        assert_eq!(out.identifier.as_deref(), Some("generic:pgp-private-key-block"));
        assert!(out.details.is_empty());
    }

    // --- databases ----------------------------------------------------------------------------

    fn db(rule: &str, line: &str, password: &str) -> Inspection {
        run(rule, "generic", "database_credential", password, line)
    }

    #[test]
    fn database_urls() {
        let mut rng = Rng(19);
        let pw = rng.alnum(18);
        let out = db(
            "database-url-password",
            &format!("DATABASE_URL=postgres://billing:{pw}@db.prod.internal:5432/billing"),
            &pw,
        );
        assert_eq!(out.identifier.as_deref(), Some("postgres://billing@db.prod.internal:5432/billing"));
        assert_eq!(out.public_ids, vec!["postgres://billing@db.prod.internal:5432/billing".to_string()]);
        for (k, v) in [
            ("scheme", "postgres"),
            ("user", "billing"),
            ("host", "db.prod.internal"),
            ("port", "5432"),
            ("database", "billing"),
        ] {
            assert_eq!(d(&out, k), Some(v));
        }

        // An unencoded `@` in the password.
        let pw_at = format!("{}@{}", rng.alnum(8), rng.alnum(9));
        let out = db("database-url-password", &format!("url: mysql://shop:{pw_at}@mysql.shop.svc:3306/shop"), &pw_at);
        assert_eq!(out.identifier.as_deref(), Some("mysql://shop@mysql.shop.svc:3306/shop"));

        let out = db("database-url-password", &format!("REDIS_URL=redis://:{pw}@cache.internal:6379/0"), &pw);
        assert_eq!(out.identifier.as_deref(), Some("redis://cache.internal:6379/0"));
        assert_eq!(d(&out, "user"), None);

        let out = db(
            "database-url-password",
            &format!("mongo_uri: \"mongodb+srv://app:{pw}@cluster0.a1b2c.mongodb.net/orders?retryWrites=true\""),
            &pw,
        );
        assert_eq!(out.identifier.as_deref(), Some("mongodb+srv://app@cluster0.a1b2c.mongodb.net/orders"));

        let out =
            db("database-url-password", &format!("CELERY_BROKER_URL = \"amqp://worker:{pw}@rabbit:5672//\""), &pw);
        assert_eq!(out.identifier.as_deref(), Some("amqp://worker@rabbit:5672//"));

        let out =
            db("database-url-password", &format!("x = \"postgresql+psycopg2://rep:{pw}@[fd00::15]:5432/wh\""), &pw);
        assert_eq!((d(&out, "host"), d(&out, "port")), (Some("[fd00::15]"), Some("5432")));

        // Escaped inside a JSON string.
        let out = db(
            "database-url-password",
            &format!("{{\"dsn\": \"{{\\\"url\\\": \\\"clickhouse://default:{pw}@ch-01:9000/events\\\"}}\"}}"),
            &pw,
        );
        assert_eq!(out.identifier.as_deref(), Some("clickhouse://default@ch-01:9000/events"));

        // The whole URL as the secret (a generic rule captured the value).
        let url = format!("postgres://app:{pw}@db.internal:5432/orders");
        let out = run("generic-secret-env", "generic", "generic_secret", &url, &format!("DB={url}"));
        assert_eq!(out.identifier.as_deref(), Some("postgres://app@db.internal:5432/orders"));
    }

    #[test]
    fn jdbc_urls() {
        let mut rng = Rng(20);
        let pw = rng.alnum(18);
        let out = db(
            "jdbc-password",
            &format!("spring.datasource.url=jdbc:postgresql://db:5432/app?user=app&password={pw}"),
            &pw,
        );
        assert_eq!(out.identifier.as_deref(), Some("postgresql://app@db:5432/app"));

        let line = format!(
            "<property name=\"url\" value=\"jdbc:sqlserver://sql01:1433;databaseName=erp;user=erp;password={pw}\"/>"
        );
        assert_eq!(db("jdbc-password", &line, &pw).identifier.as_deref(), Some("sqlserver://erp@sql01:1433/erp"));

        let line = format!("url: jdbc:db2://db2host:50000/SAMPLE:user=db2inst1;password={pw};");
        assert_eq!(db("jdbc-password", &line, &pw).identifier.as_deref(), Some("db2://db2inst1@db2host:50000/SAMPLE"));

        let line = format!("db.url=jdbc:oracle:thin:scott_app/{pw}@//ora-prod.corp.local:1521/ORCLPDB1");
        let out = run("jdbc-oracle-password", "oracle", "database_credential", &pw, &line);
        assert_eq!(out.identifier.as_deref(), Some("oracle://scott_app@ora-prod.corp.local:1521/ORCLPDB1"));

        let line = format!("<connection url=\"jdbc:oracle:thin:billing/{pw}@ora01:1521:BILL\"/>");
        let out = run("jdbc-oracle-password", "oracle", "database_credential", &pw, &line);
        assert_eq!(out.identifier.as_deref(), Some("oracle://billing@ora01:1521/BILL"));

        let line = format!(
            "jdbc:oracle:thin:app/{pw}@(DESCRIPTION=(ADDRESS=(PROTOCOL=TCP)(HOST=ora-rac)(PORT=1522))(CONNECT_DATA=(SERVICE_NAME=sales)))"
        );
        let out = run("jdbc-oracle-password", "oracle", "database_credential", &pw, &line);
        assert_eq!(out.identifier.as_deref(), Some("oracle://app@ora-rac:1522/sales"));
    }

    #[test]
    fn connection_strings() {
        let mut rng = Rng(21);
        let pw = rng.alnum(18);
        let cases = [
            (
                format!("\"DefaultConnection\": \"Server=tcp:sql-prod.database.windows.net,1433;Initial Catalog=orders;User ID=orders_app;Password={pw};Encrypt=True;\""),
                "sqlserver://orders_app@sql-prod.database.windows.net:1433/orders",
            ),
            (
                format!("<add name=\"Erp\" connectionString=\"Data Source=SQL01;Initial Catalog=Erp;User Id=erp;Password={pw};\" />"),
                "sqlserver://erp@SQL01/Erp",
            ),
            (
                format!("conn = pyodbc.connect(\"DRIVER={{ODBC Driver 18 for SQL Server}};SERVER=sql01;DATABASE=dw;UID=etl;PWD={pw}\")"),
                "sqlserver://etl@sql01/dw",
            ),
            (
                format!("ConnectionStrings__Db=Host=pg.internal;Port=5432;Database=app;Username=app;Password={pw}"),
                "postgres://app@pg.internal:5432/app",
            ),
            (format!("Driver={{MySQL ODBC 8.0}};Server=my01;Database=shop;Uid=shop;Pwd={{{pw}}};"), "mysql://shop@my01/shop"),
        ];
        for (line, want) in cases {
            let out = db("connection-string-password", &line, &pw);
            assert_eq!(out.identifier.as_deref(), Some(want), "{line}");
            assert_eq!(out.public_ids, vec![want.to_string()]);
        }
    }

    #[test]
    fn pgpass_and_basic_auth_urls() {
        let mut rng = Rng(22);
        let pw = rng.alnum(20);
        let out = run(
            "pgpass-password",
            "postgresql",
            "database_credential",
            &pw,
            &format!("db.prod.internal:5432:billing:billing_rw:{pw}"),
        );
        assert_eq!(out.identifier.as_deref(), Some("postgres://billing_rw@db.prod.internal:5432/billing"));
        let line = format!("RUN echo \"pg.internal:5432:app:app:{pw}\" > /root/.pgpass");
        let out = run("pgpass-password", "postgresql", "database_credential", &pw, &line);
        assert_eq!(out.identifier.as_deref(), Some("postgres://app@pg.internal:5432/app"));

        let line = format!("remote = \"https://ci-bot:{pw}@git.internal.net/org/repo.git\"");
        let out = run("url-basic-auth", "generic", "password", &pw, &line);
        assert_eq!(out.identifier.as_deref(), Some("https://ci-bot@git.internal.net/org/repo.git"));
        assert_eq!(d(&out, "database"), None);

        // A password-kind rule whose line holds no URL is not turned into one.
        let out = run(
            "generic-password-assignment",
            "generic",
            "password",
            &pw,
            &format!("password = \"{pw}\" # see https://wiki"),
        );
        assert_eq!(out.identifier.as_deref(), Some("generic:generic-password-assignment"));
    }

    #[test]
    fn password_equal_to_user_is_not_revealed() {
        let same = Rng(23).alnum(12);
        let line = format!("postgres://{same}:{same}@db.internal/app");
        let start = line.rfind(&same).expect("password");
        let out = inspect(
            "database-url-password",
            "generic",
            "database_credential",
            same.as_bytes(),
            line.as_bytes(),
            start..start + same.len(),
        );
        assert_no_leak(&same, &out);
        assert_eq!(out.identifier.as_deref(), Some("generic:database-url-password"));
    }

    // --- everything else ----------------------------------------------------------------------

    #[test]
    fn other_providers() {
        let mut rng = Rng(24);
        let out = alone("npm-access-token", "npm", "registry_token", &format!("npm_{}", rng.alnum(36)));
        assert_eq!(out.identifier.as_deref(), Some("npm:access-token"));
        let out = alone("openai-project-key", "openai", "api_key", &format!("sk-proj-{}", rng.alnum(60)));
        assert_eq!(d(&out, "token_type"), Some("project-key"));
        let out = alone("datadog-api-key", "datadog", "api_key", &rng.alnum(32));
        assert_eq!(out.identifier.as_deref(), Some("datadog:datadog-api-key"));
        assert!(out.details.is_empty() && out.public_ids.is_empty() && !out.short_lived && out.expires.is_none());
    }

    #[test]
    fn control_characters_and_long_values_are_cleaned() {
        let long = "a".repeat(1000);
        let token = jwt(r#"{"alg":"none"}"#, &format!(r#"{{"iss":"evil\nline","sub":"{long}"}}"#));
        let out = alone("jwt", "generic", "session_token", &token);
        let id = out.identifier.expect("identifier");
        assert!(!id.contains('\n'));
        assert!(id.chars().count() <= MAX_VALUE + 1);

        // Absurd expiry claims are kept as text but not offered as a date.
        for exp in ["1e300", "-5", "9223372036854775807"] {
            let token = jwt(r#"{"alg":"RS256"}"#, &format!(r#"{{"iss":"x","iat":1,"exp":{exp}}}"#));
            let out = alone("jwt", "generic", "session_token", &token);
            assert_eq!(out.expires, None, "{exp}");
            assert!(d(&out, "exp").is_some());
            assert!(!out.short_lived, "{exp}");
        }
    }

    // --- robustness ---------------------------------------------------------------------------

    const RULES: &[(&str, &str, &str)] = &[
        ("aws-access-key-id", "aws", "cloud_access_key"),
        ("aws-secret-access-key", "aws", "cloud_access_key"),
        ("aws-session-token", "aws", "session_token"),
        ("aws-bedrock-api-key", "aws", "api_key"),
        ("aws-bedrock-short-term-api-key", "aws", "session_token"),
        ("gcp-service-account-key", "gcp", "service_account_key"),
        ("private-key", "generic", "private_key"),
        ("private-key-base64", "generic", "private_key"),
        ("database-url-password", "generic", "database_credential"),
        ("jdbc-password", "generic", "database_credential"),
        ("jdbc-oracle-password", "oracle", "database_credential"),
        ("connection-string-password", "generic", "database_credential"),
        ("pgpass-password", "postgresql", "database_credential"),
        ("url-basic-auth", "generic", "password"),
        ("jwt", "generic", "session_token"),
        ("kubernetes-service-account-token-secret", "kubernetes", "service_account_key"),
        ("github-pat-classic", "github", "personal_access_token"),
        ("slack-webhook-url", "slack", "webhook_url"),
        ("stripe-secret-key", "stripe", "api_key"),
        ("gitlab-ci-job-token", "gitlab", "session_token"),
    ];

    /// Well-formed inputs of every reader, to be cut and corrupted.
    fn fixtures() -> Vec<(String, String)> {
        let mut rng = Rng(25);
        let pw = rng.alnum(16);
        let id = format!("ASIA{}", "Y34FZKBOKMUTVV7A");
        let sa_pem = gcp_key_pem(&mut rng).replace('\n', "\\n");
        let sa = format!("{{\"project_id\": \"p\", \"private_key\": \"{sa_pem}\", \"client_email\": \"a@p.iam.gserviceaccount.com\"}}");
        let long =
            format!("ABSK{}", b64(format!("BedrockAPIKey-x7q2-at-{}:{}", "210987654321", rng.alnum(40)).as_bytes()));
        let bearer = format!(
            "bedrock-api-key-{}",
            b64(format!("bedrock.amazonaws.com/?Action=X&X-Amz-Credential={id}%2F20250611%2Fus&X-Amz-Date=20250611T091512Z&X-Amz-Expires=43200").as_bytes())
        );
        let token = jwt(
            r#"{"alg":"RS256"}"#,
            r#"{"iss":"a","sub":"b","aud":["c"],"iat":1,"exp":2,"kubernetes.io":{"namespace":"n"}}"#,
        );
        let rsa_1024 = ssh_rsa_public(&mut rng, 1024);
        let p8 = seq(&[
            int(&[0]),
            seq(&[tlv(0x06, OID_EC), tlv(0x06, &[0x2b, 0x81, 0x04, 0x00, 0x23])]),
            tlv(0x04, &seq(&[int(&[1])])),
        ]);
        let ppk = format!(
            "PuTTY-User-Key-File-2: ssh-rsa\nEncryption: none\nPublic-Lines: 5\n{}\nPrivate-Lines: 1\n{}\n",
            wrap(&b64(&ssh_rsa_public(&mut rng, 1024)), 40),
            b64(&rng.bytes(30))
        );
        vec![
            (id.clone(), format!("aws_access_key_id = {id}\n")),
            (pw.clone(), format!("aws_access_key_id={id}\naws_secret_access_key={pw}")),
            (long.clone(), long),
            (bearer.clone(), bearer),
            (sa_pem, sa),
            (pem("RSA PRIVATE KEY", &rsa_pkcs1(&mut rng, 1024)), String::new()),
            (pem("PRIVATE KEY", &p8), String::new()),
            (openssh_pem(&mut rng, "none", &rsa_1024), String::new()),
            (ppk, String::new()),
            (b64(pem("EC PRIVATE KEY", &seq(&[int(&[1]), tlv(0x04, &[1; 32])])).as_bytes()), String::new()),
            (token.clone(), format!("Authorization: Bearer {token}")),
            (b64(token.as_bytes()), String::new()),
            (pw.clone(), format!("u=postgres://app:{pw}@[::1]:5432/db?user=x&password=y")),
            (pw.clone(), format!("jdbc:sqlserver://h\\i:1433;databaseName=d;user=u;password={pw}")),
            (pw.clone(), format!("jdbc:oracle:thin:u/{pw}@(DESCRIPTION=(HOST=h)(PORT=1)")),
            (pw.clone(), format!("Server=tcp:h,1;Database=d;User Id=u;Password={{{pw}")),
            (pw.clone(), format!("h:5432:d:u:{pw}")),
        ]
    }

    fn exercise(secret: &[u8], context: &[u8], at: Range<usize>) {
        for (rule, provider, kind) in RULES {
            let out = inspect(rule, provider, kind, secret, context, at.clone());
            assert!(out.identifier.is_some());
        }
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for round in 0..400 {
            let (secret_len, context_len) = (rng.below(300), rng.below(600));
            let secret = rng.bytes(secret_len);
            let context = rng.bytes(context_len);
            let a = rng.below(700);
            let b = rng.below(700);
            // Includes reversed and out-of-bounds spans.
            exercise(&secret, &context, a..b);
            // Random text from the readers' own alphabet reaches deeper than random bytes.
            const ALPHABET: &[u8] = b"AKIASIA234567eyJ.-_=+/:@;?&\\\"' \n{}[],MIIEb3Bl0123456789abcdefxyz%";
            let mut text: Vec<u8> = (0..rng.below(400)).map(|_| ALPHABET[rng.below(ALPHABET.len())]).collect();
            if round % 3 == 0 {
                text.splice(0..0, b"-----BEGIN PRIVATE KEY-----\n".iter().copied());
            }
            let s = rng.below(text.len() + 1);
            let e = s + rng.below(text.len() + 1 - s);
            exercise(&text[s..e], &text, s..e);
        }
    }

    #[test]
    fn truncated_and_corrupted_inputs_never_panic() {
        let mut rng = Rng(26);
        for (secret, context) in fixtures() {
            let (secret, context) = (secret.into_bytes(), context.into_bytes());
            let start = find(&context, &secret).unwrap_or(0);
            let at = start..start + if context.is_empty() { 0 } else { secret.len() };
            exercise(&secret, &context, at.clone());
            // Every cut of the secret, with the context as found.
            let step = (secret.len() / 60).max(1);
            for cut in (0..=secret.len()).step_by(step) {
                exercise(&secret[..cut], &context, at.clone());
                exercise(&secret[cut..], &secret[cut..], 0..secret.len() - cut);
            }
            // Every cut of the context around an unchanged span.
            for cut in (0..=context.len()).step_by((context.len() / 40).max(1)) {
                exercise(&secret, &context[..cut], at.clone());
            }
            // The decoded forms are where the binary parsers run: corrupt those bytes as well.
            for _ in 0..40 {
                let mut bad = secret.clone();
                for _ in 0..1 + rng.below(4) {
                    let i = rng.below(bad.len());
                    bad[i] = rng.next() as u8;
                }
                exercise(&bad, &bad, 0..bad.len());
            }
        }
    }

    #[test]
    fn binary_parsers_on_corrupted_der_and_ssh() {
        let mut rng = Rng(27);
        let samples = [
            rsa_pkcs1(&mut rng, 2048),
            seq(&[int(&[0]), seq(&[tlv(0x06, OID_DSA), seq(&[int(&big(&mut rng, 1024))])]), tlv(0x04, &[2, 1, 5])]),
            [
                b"openssh-key-v1\0".to_vec(),
                ssh_string(b"none"),
                ssh_string(b"none"),
                ssh_string(b""),
                vec![0, 0, 0, 1],
                ssh_string(&ssh_rsa_public(&mut rng, 512)),
            ]
            .concat(),
        ];
        for sample in samples {
            for cut in 0..sample.len() {
                let part = &sample[..cut];
                let _ = (pkcs1(part), pkcs8(part), sec1(part), dsa(part), openssh(part), ssh_public_key(part));
            }
            for _ in 0..500 {
                let mut bad = sample.clone();
                let i = rng.below(bad.len());
                bad[i] = rng.next() as u8;
                let _ = (pkcs1(&bad), pkcs8(&bad), sec1(&bad), dsa(&bad), openssh(&bad), ssh_public_key(&bad));
            }
        }
        // Lengths that claim more than there is, and the longest length forms.
        for bytes in [
            &[0x30, 0x84, 0xff, 0xff, 0xff, 0xff][..],
            &[0x30, 0x85, 1, 1, 1, 1, 1],
            &[0x30, 0x80],
            &[0x1f, 0x01, 0x00],
            &[0x02, 0x00],
        ] {
            assert!(pkcs1(bytes).is_none() && sec1(bytes).is_none());
        }
        assert_eq!(int_bits(&[]), None);
        assert_eq!(int_bits(&[0, 0]), None);
        assert_eq!(int_bits(&[0, 1]), Some(1));
    }

    #[test]
    fn decoders() {
        assert_eq!(base64_decode(b"aGVsbG8=").as_deref(), Some(&b"hello"[..]));
        assert_eq!(base64_decode(b"aGVs\nbG8").as_deref(), Some(&b"hello"[..]));
        assert_eq!(base64_decode(b"-_-_").as_deref(), base64_decode(b"+/+/").as_deref());
        assert_eq!(base64_decode(b"a$b"), None);
        assert_eq!(b32_decode(b"MZXW6==="), None);
        assert_eq!(b32_decode(b"MZXW6").as_deref(), Some(&b"foo"[..]));
        assert_eq!(parse_amz_date(b"19700101T000000Z"), Some(0));
        assert_eq!(parse_amz_date(b"20000229T120000Z"), Some(951_825_600));
        assert_eq!(parse_amz_date(b"20001329T120000Z"), None);
    }
}
