//! Non-human identities: what a found secret is, whose it is, and what is wrong with it.
//!
//! Every finding is read offline for what it says about its identity ([`inspect`]); findings of the
//! same secret (same fingerprint) are grouped into one [`Identity`] with its exposure (locations,
//! first commit, still at HEAD, environments); identities are linked to the team's lifecycle
//! [`inventory`]; and each gets the OWASP Non-Human Identity Top 10 (2025) risks it shows and a
//! governance state ([`assess`]).
pub mod assess;
pub mod date;
pub mod guide;
pub mod inspect;
pub mod inventory;

use std::collections::BTreeMap;

use serde::Serialize;

pub use assess::{assess, Governance, Identity, InventoryLink, Risk, RiskId};

/// What a finding's secret says about its identity, read without contacting anyone.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Nhi {
    /// A summary naming the identity without the secret: `aws:123456789012:AKIA…7XYZ`.
    pub identifier: String,
    pub lifetime: Lifetime,
    /// When the secret itself says it expires (a JWT's `exp`), `YYYY-MM-DD`.
    pub expires: Option<String>,
    /// What else could be read off it: account id, service-account email, token type, claims, key
    /// algorithm and size, database user and host, …
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub details: BTreeMap<String, String>,
    /// Public identifiers an inventory entry may list to claim this secret (full AWS key ids,
    /// service-account emails). Kept out of reports: only `inventory sync` writes them, into the
    /// inventory.
    #[serde(skip)]
    pub public_ids: Vec<String>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Lifetime {
    /// Temporary credentials and tokens that expire within a day of being issued.
    ShortLived,
    /// Valid until someone rotates or revokes it.
    #[default]
    LongLived,
}

impl Lifetime {
    pub fn as_str(self) -> &'static str {
        match self {
            Lifetime::ShortLived => "short-lived",
            Lifetime::LongLived => "long-lived",
        }
    }
}

impl Nhi {
    /// Reads the secret at `at` in `hay` for `rule`. Only a few KiB around the secret are looked at,
    /// enough for the JSON document or URL that holds it.
    pub fn read(rule: &crate::rules::Rule, hay: &[u8], at: std::ops::Range<usize>) -> Nhi {
        const AROUND: usize = 8 * 1024;
        let from = at.start.saturating_sub(AROUND);
        let to = at.end.saturating_add(AROUND).min(hay.len());
        let context = &hay[from..to];
        let secret = &hay[at.clone()];
        let local = at.start - from..at.end - from;
        Nhi::from_inspection(
            rule,
            inspect::inspect(&rule.id, &rule.provider, rule.nhi_kind.as_str(), secret, context, local),
        )
    }

    fn from_inspection(rule: &crate::rules::Rule, i: inspect::Inspection) -> Nhi {
        Nhi {
            identifier: i.identifier.unwrap_or_else(|| format!("{}:{}", rule.provider, rule.id)),
            lifetime: if i.short_lived { Lifetime::ShortLived } else { Lifetime::LongLived },
            expires: i.expires.map(|s| date::Date::from_unix(s).to_string()),
            details: i.details,
            public_ids: i.public_ids,
        }
    }
}

/// The deployment environment a path names (`config/prod/app.env`, `.env.staging`,
/// `k8s/overlays/dev/…`), if any: the file name is looked at first, then its folders from the
/// deepest up.
pub fn environment_of(path: &str) -> Option<&'static str> {
    let mut parts: Vec<&str> = path.split('/').collect();
    parts.reverse();
    for part in parts {
        for word in part.split(['.', '-', '_']) {
            let env = match word.to_ascii_lowercase().as_str() {
                "prod" | "production" | "prd" | "live" => "prod",
                "staging" | "stage" | "stg" | "preprod" => "staging",
                "dev" | "development" | "develop" | "local" => "dev",
                "test" | "tests" | "testing" | "qa" | "uat" | "e2e" => "test",
                "sandbox" => "sandbox",
                _ => continue,
            };
            return Some(env);
        }
    }
    None
}

/// Whether a path is automation — CI workflows, deploy and infrastructure files, scripts, service
/// configuration — where a machine runs with the credential, rather than a person's notes or code.
pub fn is_automation(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    let name = lower.rsplit('/').next().unwrap_or(&lower);
    let in_dir = |d: &str| lower.starts_with(&format!("{d}/")) || lower.contains(&format!("/{d}/"));
    const CI_DIRS: &[&str] = &[".github/workflows", ".github/actions", ".circleci", ".buildkite", ".gitlab", ".tekton"];
    const CI_FILES: &[&str] = &[
        ".gitlab-ci.yml",
        ".travis.yml",
        "jenkinsfile",
        "azure-pipelines.yml",
        "bitbucket-pipelines.yml",
        ".drone.yml",
        "cloudbuild.yaml",
        "cloudbuild.yml",
        "buildspec.yml",
        "appveyor.yml",
        "makefile",
        "dockerfile",
        "procfile",
    ];
    const DEPLOY_DIRS: &[&str] = &[
        "deploy",
        "deployment",
        "deployments",
        "k8s",
        "kubernetes",
        "helm",
        "charts",
        "ansible",
        "terraform",
        "infra",
        "ops",
        "scripts",
        "bin",
        "config",
        "configs",
    ];
    const AUTOMATION_EXTENSIONS: &[&str] =
        &["sh", "bash", "ps1", "tf", "tfvars", "hcl", "env", "properties", "ini", "conf", "cfg"];
    CI_DIRS.iter().any(|d| in_dir(d))
        || CI_FILES.contains(&name)
        || name.starts_with("dockerfile")
        || name.starts_with("docker-compose")
        || name.starts_with(".env")
        || name.ends_with(".env")
        || DEPLOY_DIRS.iter().any(|d| in_dir(d))
        || name.rsplit_once('.').is_some_and(|(_, ext)| AUTOMATION_EXTENSIONS.contains(&ext))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environments_from_paths() {
        assert_eq!(environment_of("config/prod/app.yml"), Some("prod"));
        assert_eq!(environment_of(".env.staging"), Some("staging"));
        assert_eq!(environment_of("deploy/production/values.yaml"), Some("prod"));
        assert_eq!(environment_of("k8s/overlays/dev/secret.yaml"), Some("dev"));
        assert_eq!(environment_of("prod/settings.test.py"), Some("test"), "the file name decides first");
        assert_eq!(environment_of("src/main.rs"), None);
        assert_eq!(environment_of("src/product.rs"), None, "whole words only");
    }

    #[test]
    fn automation_paths() {
        for p in [
            ".github/workflows/ci.yml",
            "deploy/run.sh",
            "Dockerfile",
            "docker-compose.prod.yml",
            ".env",
            "infra/main.tf",
            ".gitlab-ci.yml",
        ] {
            assert!(is_automation(p), "{p}");
        }
        for p in ["src/lib.rs", "README.md", "docs/setup.md", "notes.txt"] {
            assert!(!is_automation(p), "{p}");
        }
    }
}
