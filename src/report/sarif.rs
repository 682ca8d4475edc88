//! SARIF 2.1.0, the format GitHub code scanning ingests.
use std::collections::BTreeMap;
use std::io::{self, Write};

use serde_json::{json, Value};

use super::{EmitContext, Emitter};
use crate::finding::Finding;
use crate::nhi::assess::headline;
use crate::nhi::{guide, RiskId};
use crate::rules::{NhiKind, Rule, Severity};
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

/// The taxonomies results refer to, by their index in `run.taxonomies`.
const OWASP_NHI: usize = 0;
const CWE: usize = 1;
const OWASP_NHI_NAME: &str = "OWASP NHI Top 10";
const CWE_NAME: &str = "CWE";
const CWE_HARD_CODED_CREDENTIALS: &str = "798";

/// The OWASP ids every finding of a rule shows: secret leakage, plus what the rule declares.
fn rule_risks(r: &Rule) -> Vec<RiskId> {
    let mut risks = vec![RiskId::SecretLeakage];
    risks.extend(r.risks.iter().copied());
    if r.nhi_kind == NhiKind::PrivateKey && r.id != "private-key-encrypted" {
        risks.push(RiskId::InsecureAuthentication);
    }
    risks.sort();
    risks.dedup();
    risks
}

/// What the credential is and how to rotate and revoke it, as plain text and markdown.
fn help(r: &Rule) -> (String, String) {
    let g = guide::guide();
    let about = g.kind.get(r.nhi_kind.as_str()).map(|k| k.about.as_str()).unwrap_or("");
    let provider = g.provider(&r.provider);
    let name = g.display_name(&r.provider);
    let mut text = format!("{}\n\n{}", r.description, about);
    let mut md = format!("**{}** ({}, {name})\n\n{}\n\n{}", r.name, r.nhi_kind.label(), r.description, about);
    if let Some(p) = provider {
        text.push_str(&format!("\n\nRotate: {}\nRevoke: {}", p.rotate, p.revoke));
        md.push_str(&format!("\n\n**Rotate.** {}\n\n**Revoke.** {}", p.rotate, p.revoke));
        if let Some(console) = &p.console {
            text.push_str(&format!("\nManage keys: {console}"));
            md.push_str(&format!("\n\nManage keys: <{console}>"));
        }
    }
    md.push_str("\n\nRemove the secret from the code and from git history once it is revoked, and record the identity (owner, rotation, retirement) in the keytrail inventory.");
    (text.trim().to_string(), md)
}

fn rule_descriptor(r: &Rule) -> Value {
    let risks = rule_risks(r);
    let mut tags: Vec<String> = vec![
        "security".into(),
        "secret".into(),
        "external/cwe/cwe-798".into(),
        r.nhi_kind.as_str().into(),
        r.provider.clone(),
    ];
    tags.extend(risks.iter().map(|id| id.as_str().to_string()));
    let (help_text, help_markdown) = help(r);
    let mut relationships = vec![taxon_relationship(CWE, CWE_NAME, CWE_HARD_CODED_CREDENTIALS)];
    relationships.extend(risks.iter().map(|id| taxon_relationship(OWASP_NHI, OWASP_NHI_NAME, id.as_str())));
    json!({
        "id": r.id,
        "name": pascal_case(&r.id),
        "shortDescription": { "text": r.name },
        "fullDescription": { "text": r.description },
        "help": { "text": help_text, "markdown": help_markdown },
        "defaultConfiguration": { "level": level(r.severity) },
        "relationships": relationships,
        "properties": {
            "tags": tags,
            "security-severity": security_severity(r.severity),
            "precision": "high",
        },
    })
}

fn taxon_ref(component: usize, name: &str, id: &str) -> Value {
    json!({ "id": id, "toolComponent": { "name": name, "index": component } })
}

fn taxon_relationship(component: usize, name: &str, id: &str) -> Value {
    json!({ "target": taxon_ref(component, name, id), "kinds": ["relevant"] })
}

fn taxonomies() -> Value {
    let nhi_taxa: Vec<Value> = RiskId::ALL
        .iter()
        .map(|r| {
            json!({
                "id": r.as_str(),
                "name": r.name(),
                "shortDescription": { "text": r.about() },
                "helpUri": r.help_uri(),
            })
        })
        .collect();
    json!([
        {
            "name": OWASP_NHI_NAME,
            "version": "2025",
            "organization": "OWASP",
            "informationUri": "https://owasp.org/www-project-non-human-identities-top-10/",
            "shortDescription": { "text": "The ten most critical risks of non-human identities (service accounts, API keys, tokens)." },
            "taxa": nhi_taxa,
        },
        {
            "name": CWE_NAME,
            "version": "4.16",
            "organization": "MITRE",
            "informationUri": "https://cwe.mitre.org/",
            "shortDescription": { "text": "The Common Weakness Enumeration." },
            "taxa": [{
                "id": CWE_HARD_CODED_CREDENTIALS,
                "name": "Use of Hard-coded Credentials",
                "shortDescription": { "text": "The product contains hard-coded credentials, such as a password or cryptographic key." },
                "helpUri": "https://cwe.mitre.org/data/definitions/798.html",
            }],
        },
    ])
}

/// The message: what and whose in the first sentence, then the risks.
fn message(f: &Finding) -> String {
    let risks: Vec<String> = f.risks.iter().map(|r| format!("{} {}", r.id.as_str(), r.id.name())).collect();
    let mut text = headline(f);
    text.push_str(&format!(" Identity: {}.", f.nhi.identifier));
    if !risks.is_empty() {
        text.push_str(&format!(" Risks: {}.", risks.join("; ")));
    }
    text
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
                    "message": { "text": message(f) },
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
                    "taxa": std::iter::once(taxon_ref(CWE, CWE_NAME, CWE_HARD_CODED_CREDENTIALS))
                        .chain(f.risks.iter().map(|r| taxon_ref(OWASP_NHI, OWASP_NHI_NAME, r.id.as_str())))
                        .collect::<Vec<_>>(),
                    "properties": {
                        "fingerprint": f.fingerprint,
                        "secret": f.secret,
                        "nhi": {
                            "kind": f.nhi_kind,
                            "provider": f.provider,
                            "identifier": f.nhi.identifier,
                            "lifetime": f.nhi.lifetime,
                            "expires": f.nhi.expires,
                            "details": f.nhi.details,
                        },
                        "inventory": f.inventory,
                        "governance": f.governance,
                        "risks": f.risks.iter().map(|r| r.id).collect::<Vec<_>>(),
                        "risk_reasons": f.risks,
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
                    "supportedTaxonomies": [
                        { "name": OWASP_NHI_NAME, "index": OWASP_NHI },
                        { "name": CWE_NAME, "index": CWE },
                    ],
                }},
                "taxonomies": taxonomies(),
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
