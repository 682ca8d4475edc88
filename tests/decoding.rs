//! Secrets under an encoding are found and reported at the line where the encoded text sits.
mod common;

use common::{findings, keytrail, scan_json, write, Fake};

/// Standard base64 (with padding), written here so the test does not trust the code it checks.
fn base64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn only(dir: &std::path::Path) -> serde_json::Value {
    let f = findings(&scan_json(dir, &["--no-history"]));
    assert_eq!(f.len(), 1, "{f:#?}");
    f[0].clone()
}

#[test]
fn base64_in_a_kubernetes_secret_is_reported_at_the_encoded_line() {
    let d = tempfile::tempdir().unwrap();
    let token = Fake::new(501).github_pat();
    let encoded = base64(token.as_bytes());
    write(d.path(), "secret.yaml", format!("apiVersion: v1\nkind: Secret\ndata:\n  token: {encoded}\n"));
    let f = only(d.path());
    assert_eq!(f["rule_id"], "github-pat-classic");
    assert_eq!(f["line"], 4);
    assert_eq!(f["encoding"], "base64");
    // The fingerprint is the decoded secret's: the same as the token in the clear elsewhere.
    let clear = tempfile::tempdir().unwrap();
    write(clear.path(), "a.env", format!("GITHUB_TOKEN={token}\n"));
    assert_eq!(f["fingerprint"], only(clear.path())["fingerprint"]);
    let out = keytrail().args(["scan", "--no-history", "-q"]).arg(d.path()).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains(&encoded) && !text.contains(&token), "neither form is printed: {text}");
}

#[test]
fn escaped_pem_in_json_is_one_finding_with_the_real_key() {
    let d = tempfile::tempdir().unwrap();
    let pem = Fake::new(502).pem_private_key();
    let escaped = pem.replace('\n', "\\n");
    write(d.path(), "sa.json", format!("{{\n  \"type\": \"x\",\n  \"private_key\": \"{escaped}\"\n}}\n"));
    write(d.path(), "key.pem", &pem);
    let f = findings(&scan_json(d.path(), &["--no-history"]));
    let json: Vec<_> = f.iter().filter(|x| x["path"] == "sa.json").collect();
    let file: Vec<_> = f.iter().filter(|x| x["path"] == "key.pem").collect();
    assert_eq!(json.len(), 1, "{f:#?}");
    assert_eq!(json[0]["line"], 3);
    assert_eq!(file.len(), 1, "{f:#?}");
    assert_eq!(json[0]["fingerprint"], file[0]["fingerprint"], "escapes are undone before fingerprinting");
}

#[test]
fn json_slash_escapes_and_percent_encoding_are_undone() {
    let d = tempfile::tempdir().unwrap();
    let token = Fake::new(503).github_pat();
    write(d.path(), "a.json", format!("{{\"note\": \"see https:\\/\\/x.test\\/\", \"t\": \"{token}\\/\"}}\n"));
    let f = only(d.path());
    assert_eq!(f["rule_id"], "github-pat-classic");

    let p = tempfile::tempdir().unwrap();
    let encoded = token.replace('_', "%5F");
    write(p.path(), "url.txt", format!("one\nendpoint = https://api.test/x?t={encoded}\n"));
    let f = only(p.path());
    assert_eq!(f["rule_id"], "github-pat-classic");
    assert_eq!(f["line"], 2);
    assert_eq!(f["encoding"], "percent");
}

#[test]
fn utf16_files_are_scanned_with_and_without_bom() {
    let token = Fake::new(504).github_pat();
    let text = format!("first\r\nsecond\r\ntoken = {token}\r\n");
    for bom in [true, false] {
        let d = tempfile::tempdir().unwrap();
        let mut bytes: Vec<u8> = if bom { vec![0xFF, 0xFE] } else { Vec::new() };
        bytes.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
        write(d.path(), "w.txt", bytes);
        let f = only(d.path());
        assert_eq!(f["line"], 3, "bom={bom}");
        assert_eq!(f["encoding"], "utf16");
    }
}

#[test]
fn binary_files_and_hashes_are_not_decoded_into_findings() {
    let d = tempfile::tempdir().unwrap();
    let token = Fake::new(505).github_pat();
    // The token base64-encoded inside a binary file (a NUL early on) is not reported.
    let mut bin = vec![0u8, 1, 2, 3];
    bin.extend(base64(token.as_bytes()).bytes());
    write(d.path(), "blob.bin", bin);
    write(d.path(), "sums.txt", "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08  file\n");
    assert!(findings(&scan_json(d.path(), &["--no-history"])).is_empty());
}
