//! Shapes of real credentials, filled from the PRNG.
#![allow(dead_code)]
use super::rng::*;

pub fn aws_key_id(r: &mut Rng, prefix: &str) -> String {
    format!("{prefix}{}", r.s(UPPER32, 16))
}
pub fn aws_secret(r: &mut Rng) -> String {
    r.b64(40)
}
pub fn aws_session_token(r: &mut Rng) -> String {
    format!("IQoJb3JpZ2luX2VjE{}", r.b64(340))
}
pub fn gcp_api_key(r: &mut Rng) -> String {
    format!("AIza{}", r.s(B64URL, 35))
}
pub fn gocspx(r: &mut Rng) -> String {
    format!("GOCSPX-{}", r.s(B64URL, 28))
}
pub fn azure_account_key(r: &mut Rng) -> String {
    format!("{}==", r.b64(86))
}
pub fn azure_sb_key(r: &mut Rng) -> String {
    format!("{}=", r.b64(43))
}
pub fn azure_ad_secret(r: &mut Rng) -> String {
    format!(
        "{}{}Q~{}",
        r.s(ALNUM, 3),
        r.s(DIGITS, 1),
        r.s("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.~-", 34)
    )
}
pub fn azure_sig(r: &mut Rng) -> String {
    percent_encode(&format!("{}=", r.b64(43)))
}
pub fn github_fine_grained(r: &mut Rng) -> String {
    format!("github_pat_11{}_{}", r.s(UPPER_ALNUM, 20), r.alnum(59))
}
pub fn jwt_with(r: &mut Rng, header: &str, payload: &str, sig_len: usize) -> String {
    format!("{}.{}.{}", b64url(header.as_bytes()), b64url(payload.as_bytes()), r.b64url(sig_len))
}
pub fn jwt_hs256(r: &mut Rng, sub: &str) -> String {
    let iat = 1_700_000_000 + r.below(30_000_000);
    let payload =
        format!(r#"{{"sub":"{sub}","name":"svc-{}","iat":{iat},"exp":{}}}"#, r.s(LOWER_ALNUM, 6), iat + 31_536_000);
    jwt_with(r, r#"{"alg":"HS256","typ":"JWT"}"#, &payload, 43)
}
pub fn k8s_sa_token(r: &mut Rng, ns: &str, sa: &str) -> String {
    let kid = r.b64url(43);
    let header = format!(r#"{{"alg":"RS256","kid":"{kid}"}}"#);
    let payload = format!(
        r#"{{"iss":"kubernetes/serviceaccount","kubernetes.io/serviceaccount/namespace":"{ns}","kubernetes.io/serviceaccount/secret.name":"{sa}-token-{}","kubernetes.io/serviceaccount/service-account.name":"{sa}","kubernetes.io/serviceaccount/service-account.uid":"{}","sub":"system:serviceaccount:{ns}:{sa}"}}"#,
        r.s(LOWER_ALNUM, 5),
        r.uuid()
    );
    jwt_with(r, &header, &payload, 342)
}
pub fn supabase_service_role(r: &mut Rng) -> String {
    let reference = r.s("abcdefghijklmnopqrstuvwxyz", 20);
    let payload =
        format!(r#"{{"iss":"supabase","ref":"{reference}","role":"service_role","iat":1718000000,"exp":2033576000}}"#);
    jwt_with(r, r#"{"alg":"HS256","typ":"JWT"}"#, &payload, 43)
}
pub fn slack_bot(r: &mut Rng) -> String {
    format!("xoxb-{}-{}-{}", r.digits(12), r.digits(13), r.alnum(24))
}
pub fn slack_user(r: &mut Rng) -> String {
    format!("xoxp-{}-{}-{}-{}", r.digits(12), r.digits(12), r.digits(13), r.hex(32))
}
pub fn slack_app(r: &mut Rng) -> String {
    format!("xapp-1-A{}-{}-{}", r.s(UPPER_ALNUM, 10), r.digits(13), r.hex(64))
}
pub fn slack_webhook(r: &mut Rng) -> String {
    format!("https://hooks.slack.com/services/T{}/B{}/{}", r.s(UPPER_ALNUM, 8), r.s(UPPER_ALNUM, 10), r.alnum(24))
}
pub fn discord_bot(r: &mut Rng) -> String {
    let id = format!("{}", 1_000_000_000_000_000_000u64 + r.next_u64() % 300_000_000_000_000_000);
    format!("{}.{}.{}", b64url(id.as_bytes()), r.b64url(6), r.b64url(38))
}
pub fn discord_webhook(r: &mut Rng) -> String {
    format!("https://discord.com/api/webhooks/{}/{}", r.digits(19), r.b64url(68))
}
pub fn telegram(r: &mut Rng) -> String {
    format!("{}:AA{}", r.digits(10), r.b64url(33))
}
pub fn teams_webhook(r: &mut Rng) -> String {
    let (a, b, c) = (r.uuid(), r.uuid(), r.uuid());
    format!("https://contoso.webhook.office.com/webhookb2/{a}@{b}/IncomingWebhook/{}/{c}", r.hex(32))
}
pub fn sendgrid(r: &mut Rng) -> String {
    format!("SG.{}.{}", r.b64url(22), r.b64url(43))
}
pub fn mailchimp(r: &mut Rng) -> String {
    format!("{}-us{}", r.hex(32), r.range(2, 21))
}
pub fn stripe(r: &mut Rng, prefix: &str) -> String {
    format!("{prefix}51{}", r.alnum(97))
}
pub fn shopify(r: &mut Rng, prefix: &str) -> String {
    format!("{prefix}{}", r.hex(32))
}
pub fn braintree(r: &mut Rng) -> String {
    format!("access_token$production${}${}", r.s(LOWER_ALNUM, 16), r.hex(32))
}
pub fn facebook(r: &mut Rng) -> String {
    format!("EAAG{}", r.alnum(180))
}
pub fn fcm_server_key(r: &mut Rng) -> String {
    format!("AAAA{}:APA91b{}", r.b64url(7), r.b64url(134))
}
pub fn mapbox_secret(r: &mut Rng) -> String {
    let payload = format!(r#"{{"u":"acme-maps","a":"{}"}}"#, r.s(LOWER_ALNUM, 25));
    format!("sk.{}.{}", b64url(payload.as_bytes()), r.b64url(22))
}
pub fn mapbox_public(r: &mut Rng) -> String {
    let payload = format!(r#"{{"u":"acme-maps","a":"{}"}}"#, r.s(LOWER_ALNUM, 25));
    format!("pk.{}.{}", b64url(payload.as_bytes()), r.b64url(22))
}
pub fn atlassian(r: &mut Rng) -> String {
    format!("ATATT3xFfGF0{}={}", r.b64url(170), r.s(UPPER_HEX, 8))
}
pub fn onepassword(r: &mut Rng) -> String {
    let payload = format!(
        r#"{{"signInAddress":"acme.1password.com","userAuth":{{"method":"SRPg-4096","alg":"PBES2g-HS256","iterations":650000,"salt":"{}"}},"email":"{}@1passwordserviceaccounts.com","srpX":"{}","muk":{{"alg":"A256GCM","ext":true,"k":"{}","key_ops":["encrypt","decrypt"],"kty":"oct","kid":"mp"}},"secretKey":"A3-{}","throttleSecret":{{"seed":"{}","uuid":"{}"}},"deviceUuid":"{}"}}"#,
        r.b64url(22),
        r.s(LOWER_ALNUM, 13),
        r.hex(64),
        r.b64url(43),
        r.s(UPPER_ALNUM, 32),
        r.hex(64),
        r.s(UPPER_ALNUM, 26),
        r.s(LOWER_ALNUM, 26)
    );
    format!("ops_{}", b64encode(payload.as_bytes()).trim_end_matches('='))
}
pub fn vault(r: &mut Rng) -> String {
    format!("hvs.CAESI{}", r.b64url(86))
}
pub fn tfc(r: &mut Rng) -> String {
    format!("{}.atlasv1.{}", r.alnum(14), r.b64url(67))
}
pub fn sentry_org(r: &mut Rng) -> String {
    let payload = format!(
        r#"{{"iat":{},"url":"https://sentry.io","region_url":"https://us.sentry.io","org":"acme"}}"#,
        1_710_000_000 + r.below(9_000_000)
    );
    format!("sntrys_{}_{}", b64encode(payload.as_bytes()).trim_end_matches('='), r.b64url(43))
}
pub fn grafana_cloud(r: &mut Rng) -> String {
    let payload = format!(
        r#"{{"o":"{}","n":"stack-{}-ci","k":"{}","m":{{"r":"prod-us-east-0"}}}}"#,
        r.digits(6),
        r.digits(6),
        r.alnum(24)
    );
    format!("glc_{}", b64encode(payload.as_bytes()))
}
pub fn dynatrace(r: &mut Rng) -> String {
    format!("dt0c01.{}.{}", r.s(UPPER_ALNUM, 24), r.s(UPPER_ALNUM, 64))
}
pub fn openai_proj(r: &mut Rng) -> String {
    format!("sk-proj-{}T3BlbkFJ{}", r.b64url(74), r.b64url(74))
}
pub fn openai_legacy(r: &mut Rng) -> String {
    format!("sk-{}T3BlbkFJ{}", r.alnum(20), r.alnum(20))
}
pub fn anthropic(r: &mut Rng, kind: &str) -> String {
    format!("sk-ant-{kind}-{}AA", r.b64url(93))
}
pub fn age_key(r: &mut Rng) -> String {
    format!("AGE-SECRET-KEY-1{}", r.s(BECH32, 58).to_uppercase())
}
pub fn pypi(r: &mut Rng) -> String {
    format!("pypi-AgEIcHlwaS5vcmcCJD{}", r.b64url(155))
}

/// A PEM private key block (no trailing newline).
pub fn pem(r: &mut Rng, kind: &str) -> String {
    let (label, lines, headers): (&str, Vec<String>, &str) = match kind {
        "rsa" => ("RSA PRIVATE KEY", r.pem_body("MIIEowIBAAKCAQEA", 1588, 64, false), ""),
        "rsa-encrypted" => {
            ("RSA PRIVATE KEY", r.pem_body("", 1600, 64, false), "Proc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,")
        }
        "ec" => {
            let mut l =
                vec![format!("MHcCAQEEI{}", r.b64(55)), format!("{}oAoGCCqGSM49AwEHoUQDQgAE{}", r.b64(8), r.b64(32))];
            l.push(format!("{}==", r.b64(34)));
            ("EC PRIVATE KEY", l, "")
        }
        "dsa" => ("DSA PRIVATE KEY", r.pem_body("MIIBvAIBAAKBgQD", 596, 64, false), ""),
        "pkcs8" => {
            ("PRIVATE KEY", r.pem_body("MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQ", 1624, 64, false), "")
        }
        "pkcs8-encrypted" => (
            "ENCRYPTED PRIVATE KEY",
            r.pem_body("MIIFLTBXBgkqhkiG9w0BBQ0wSjApBgkqhkiG9w0BBQwwHAQI", 1712, 64, false),
            "",
        ),
        "openssh" => (
            "OPENSSH PRIVATE KEY",
            r.pem_body("b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW", 400, 70, false),
            "",
        ),
        _ => panic!("{kind}"),
    };
    let mut out = format!("-----BEGIN {label}-----\n");
    if !headers.is_empty() {
        out.push_str(headers);
        out.push_str(&r.s(UPPER_HEX, 32));
        out.push_str("\n\n");
    }
    out.push_str(&lines.join("\n"));
    out.push_str(&format!("\n-----END {label}-----"));
    out
}

pub fn putty(r: &mut Rng) -> String {
    let public = r.pem_body("AAAAC3NzaC1lZDI1NTE5AAAAI", 68, 64, false);
    format!(
        "PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\nComment: eddsa-key-20240917\nPublic-Lines: {}\n{}\nPrivate-Lines: 1\nAAAAI{}\nPrivate-MAC: {}",
        public.len(),
        public.join("\n"),
        r.b64(43),
        r.hex(64)
    )
}

pub fn gcp_sa_json(r: &mut Rng, project: &str, account: &str) -> String {
    let key = pem(r, "pkcs8").replace('\n', "\\n");
    format!(
        r#"{{
  "type": "service_account",
  "project_id": "{project}",
  "private_key_id": "{}",
  "private_key": "{key}\n",
  "client_email": "{account}@{project}.iam.gserviceaccount.com",
  "client_id": "{}",
  "auth_uri": "https://accounts.google.com/o/oauth2/auth",
  "token_uri": "https://oauth2.googleapis.com/token",
  "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
  "client_x509_cert_url": "https://www.googleapis.com/robot/v1/metadata/x509/{account}%40{project}.iam.gserviceaccount.com",
  "universe_domain": "googleapis.com"
}}"#,
        r.hex(40),
        r.digits(21)
    )
}
