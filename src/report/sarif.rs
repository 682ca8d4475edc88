//! SARIF 2.1.0, the format GitHub code scanning ingests.
use std::collections::BTreeMap;
use std::io::{self, Write};

use serde_json::{json, Value};

use super::{EmitContext, Emitter};
use crate::rules::{Rule, Severity};
use crate::scan::Report;

pub struct Sarif;

/// The key under which results carry keytrail's value-only fingerprint, so GitHub tracks an alert
/// across edits and moves instead of hashing the line.
pub const FINGERPRINT_KEY: &str = "keytrail/v1";

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low => "note",
    }
}

/// GitHub ranks security alerts by this CVSS-like score.
fn security_severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "3.0",
    }
}

fn rule_descriptor(r: &Rule) -> Value {
    json!({
        "id": r.id,
        "name": pascal_case(&r.id),
        "shortDescription": { "text": r.name },
        "fullDescription": { "text": r.description },
        "defaultConfiguration": { "level": level(r.severity) },
        "properties": {
            "tags": ["security", "secret", "external/cwe/cwe-798", r.nhi_kind.as_str(), r.provider],
            "security-severity": security_severity(r.severity),
            "precision": "high",
        },
    })
}

impl Emitter for Sarif {
    fn emit(&self, report: &Report, ctx: &EmitContext<'_>, out: &mut dyn Write) -> io::Result<()> {
        // Only rules with results are described, in id order, so the file stays small and stable.
        let used: BTreeMap<&str, &Rule> = report
            .findings
            .iter()
            .filter_map(|f| ctx.rules.iter().find(|r| r.id == f.rule_id))
            .map(|r| (r.id.as_str(), r))
            .collect();
        let index: BTreeMap<&str, usize> = used.keys().enumerate().map(|(i, id)| (*id, i)).collect();
        let results: Vec<Value> = report
            .findings
            .iter()
            .map(|f| {
                let mut result = json!({
                    "ruleId": f.rule_id,
                    "level": level(f.severity),
                    "message": { "text": format!("{} ({}, {}) found in {}.", f.rule_name, f.nhi_kind.label(), f.provider, f.path) },
                    "locations": [{
                        "physicalLocation": {
                            "artifactLocation": { "uri": percent_encode_path(&f.path), "uriBaseId": "%SRCROOT%" },
                            "region": {
                                "startLine": f.line,
                                "startColumn": f.column,
                                "endLine": f.end_line,
                                "endColumn": f.end_column,
                                "snippet": { "text": f.snippet },
                            },
                        },
                    }],
                    "partialFingerprints": { FINGERPRINT_KEY: f.fingerprint },
                    "properties": {
                        "fingerprint": f.fingerprint,
                        "secret": f.secret,
                        "nhi": { "kind": f.nhi_kind, "provider": f.provider },
                        "entropy": f.entropy,
                    },
                });
                if let Some(i) = index.get(f.rule_id.as_str()) {
                    result["ruleIndex"] = json!(i);
                }
                result["properties"]["source"] = json!(f.source);
                if let Some(h) = &f.history {
                    let props = &mut result["properties"];
                    props["commit"] = json!(h.commit);
                    props["author"] = json!(h.author);
                    props["email"] = json!(h.email);
                    props["date"] = json!(h.date);
                    props["summary"] = json!(h.summary);
                    props["present_at_head"] = json!(h.present_at_head);
                }
                result
            })
            .collect();
        let doc = json!({
            "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
            "version": "2.1.0",
            "runs": [{
                "tool": { "driver": {
                    "name": "keytrail",
                    "semanticVersion": env!("CARGO_PKG_VERSION"),
                    "rules": used.values().map(|r| rule_descriptor(r)).collect::<Vec<_>>(),
                }},
                "originalUriBaseIds": { "%SRCROOT%": { "description": { "text": "The scanned root." } } },
                "results": results,
                "columnKind": "unicodeCodePoints",
            }],
        });
        serde_json::to_writer_pretty(&mut *out, &doc)?;
        out.write_all(b"\n")
    }
}

/// `aws-access-key-id` → `AwsAccessKeyId`, SARIF's convention for a rule's readable name.
fn pascal_case(id: &str) -> String {
    id.split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next().map(|f| f.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default()
        })
        .collect()
}

/// Percent-encodes a relative path for a URI reference, keeping `/` and RFC 3986 unreserved bytes.
pub fn percent_encode_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for &b in path.as_bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_percent_encoded() {
        assert_eq!(percent_encode_path("a b/ü#?.txt"), "a%20b/%C3%BC%23%3F.txt");
        assert_eq!(percent_encode_path("src/main.rs"), "src/main.rs");
    }

    #[test]
    fn names_are_pascal_case() {
        assert_eq!(pascal_case("aws-access-key-id"), "AwsAccessKeyId");
    }
}
