//! Groups findings into identities, links them to the inventory, and says what is wrong with each
//! in the terms of the OWASP Non-Human Identity Top 10 (2025).
use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::date::Date;
use super::inventory::{Entry, Inventory, RetireWhen, Status};
use super::{environment_of, is_automation, Lifetime};
use crate::finding::{Finding, Source};
use crate::rules::{NhiKind, Rule};
use crate::scan::Report;

/// A credential without a rotation policy is long-lived past this many days of exposure.
pub const UNPOLICED_MAX_DAYS: i64 = 90;

macro_rules! risks {
    ($($variant:ident => $id:literal, $name:literal, $slug:literal, $about:literal;)+) => {
        /// An OWASP Non-Human Identity Top 10 (2025) risk.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        pub enum RiskId { $(#[serde(rename = $id)] $variant),+ }

        impl RiskId {
            pub const ALL: &'static [RiskId] = &[$(RiskId::$variant),+];
            pub fn as_str(self) -> &'static str { match self { $(RiskId::$variant => $id),+ } }
            pub fn name(self) -> &'static str { match self { $(RiskId::$variant => $name),+ } }
            /// One sentence on the risk.
            pub fn about(self) -> &'static str { match self { $(RiskId::$variant => $about),+ } }
            pub fn help_uri(self) -> String {
                match self { $(RiskId::$variant => format!("https://owasp.org/www-project-non-human-identities-top-10/2025/{}/", $slug)),+ }
            }
            pub fn parse(s: &str) -> Option<RiskId> { match s { $($id => Some(RiskId::$variant),)+ _ => None } }
        }
    };
}

risks! {
    ImproperOffboarding => "NHI1", "Improper Offboarding", "1-improper-offboarding",
        "Identities that should have been retired or revoked are still usable.";
    SecretLeakage => "NHI2", "Secret Leakage", "2-secret-leakage",
        "Credentials exposed in code, configuration or history, where anyone who reads them can use them.";
    VulnerableThirdPartyNhi => "NHI3", "Vulnerable Third-Party NHI", "3-vulnerable-third-party-nhi",
        "Third-party integrations holding credentials that can be abused when the third party is compromised.";
    InsecureAuthentication => "NHI4", "Insecure Authentication", "4-insecure-authentication",
        "Authentication by deprecated or weak means: passwords in URLs, basic auth, unprotected private keys.";
    OverprivilegedNhi => "NHI5", "Overprivileged NHI", "5-overprivileged-nhi",
        "Identities granted more access than their purpose needs.";
    InsecureCloudDeploymentConfigurations => "NHI6", "Insecure Cloud Deployment Configurations", "6-insecure-cloud-deployment-configurations",
        "CI/CD and cloud deployments authenticating with static credentials instead of short-lived federation.";
    LongLivedSecrets => "NHI7", "Long-Lived Secrets", "7-long-lived-secrets",
        "Credentials that stay valid for a long time or never expire, widening the window for misuse.";
    EnvironmentIsolation => "NHI8", "Environment Isolation", "8-environment-isolation",
        "The same identity used across environments, so a breach of one reaches another.";
    NhiReuse => "NHI9", "NHI Reuse", "9-nhi-reuse",
        "One identity shared by several applications or services.";
    HumanUseOfNhi => "NHI10", "Human Use of NHI", "10-human-use-of-nhi",
        "Human credentials used by machines, or machine credentials used by people.";
}

/// One risk a finding shows, and why.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Risk {
    pub id: RiskId,
    pub reason: String,
}

/// Where an identity stands against the inventory.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Governance {
    /// Linked to an active entry and within its policy.
    Managed,
    /// No inventory entry: nobody owns it.
    #[default]
    Unmanaged,
    /// Its entry says retired, revoked or past its end, but the secret is still in code or history.
    OffboardingFailure,
    /// Past its rotation period or expiry.
    RotationOverdue,
}

impl Governance {
    pub fn as_str(self) -> &'static str {
        match self {
            Governance::Managed => "managed",
            Governance::Unmanaged => "unmanaged",
            Governance::OffboardingFailure => "offboarding-failure",
            Governance::RotationOverdue => "rotation-overdue",
        }
    }
}

/// The inventory entry a finding is linked to, as reports show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InventoryLink {
    pub id: String,
    pub owner: String,
    pub status: Status,
}

/// One place an identity's secret was found.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Location {
    pub path: String,
    pub line: usize,
    pub source: Source,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
}

/// All findings of one secret, with its exposure, inventory link and risks.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Identity {
    pub fingerprint: String,
    pub rule_id: String,
    pub rule_name: String,
    pub kind: NhiKind,
    pub provider: String,
    pub identifier: String,
    pub lifetime: Lifetime,
    pub expires: Option<String>,
    /// Date of the earliest commit that holds the secret, when history was read.
    pub first_seen: Option<String>,
    pub first_commit: Option<String>,
    /// Whether the secret is in the current files (or in HEAD's tree); false: only in history.
    pub at_head: bool,
    pub locations: Vec<Location>,
    /// Distinct paths holding the secret.
    pub paths: usize,
    /// Distinct environments those paths name.
    pub environments: Vec<String>,
    pub inventory: Option<InventoryLink>,
    pub governance: Governance,
    pub risks: Vec<Risk>,
    /// Public identifiers read off the secret, for `inventory sync`.
    #[serde(skip)]
    pub public_ids: Vec<String>,
}

impl Identity {
    /// "in code" or "in git history", for messages.
    pub fn where_found(&self) -> &'static str {
        if self.at_head {
            "in code"
        } else {
            "in git history"
        }
    }
}

/// Groups the report's findings into identities (in order of first appearance in the sorted
/// findings), links each to `inventory`, computes risks and governance as of `today`, and writes
/// them back onto every finding.
pub fn assess(report: &mut Report, rules: &[Rule], inventory: &Inventory, today: Date) {
    let mut order: Vec<String> = Vec::new();
    let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, f) in report.findings.iter().enumerate() {
        let group = groups.entry(f.fingerprint.clone()).or_default();
        if group.is_empty() {
            order.push(f.fingerprint.clone());
        }
        group.push(i);
    }
    let mut identities = Vec::with_capacity(order.len());
    for fp in order {
        let members: Vec<&Finding> = groups[&fp].iter().map(|&i| &report.findings[i]).collect();
        let rule = rules.iter().find(|r| r.id == members[0].rule_id);
        let identity = build(&members, rule, inventory, today);
        for &i in &groups[&fp] {
            let f = &mut report.findings[i];
            f.inventory = identity.inventory.clone();
            f.governance = identity.governance;
            f.risks = identity.risks.clone();
        }
        identities.push(identity);
    }
    report.identities = identities;
}

fn build(members: &[&Finding], rule: Option<&Rule>, inventory: &Inventory, today: Date) -> Identity {
    let first = members[0];
    // The most informative reading: the one that names the identity with public identifiers.
    let nhi =
        members.iter().map(|f| &f.nhi).max_by_key(|n| (n.public_ids.len(), n.details.len())).unwrap_or(&first.nhi);
    let mut public_ids: Vec<String> = members.iter().flat_map(|f| f.nhi.public_ids.iter().cloned()).collect();
    public_ids.sort();
    public_ids.dedup();

    let mut locations: Vec<Location> = members
        .iter()
        .map(|f| Location {
            path: f.path.clone(),
            line: f.line,
            source: f.source,
            commit: f.history.as_ref().map(|h| h.commit.clone()),
        })
        .collect();
    locations.sort();
    locations.dedup();
    let paths: BTreeSet<&str> = members.iter().map(|f| f.path.as_str()).collect();
    let environments: BTreeSet<&str> = paths.iter().filter_map(|p| environment_of(p)).collect();
    let earliest = members
        .iter()
        .filter_map(|f| f.history.as_ref())
        .filter_map(|h| Date::parse(&h.date).map(|d| (d, h)))
        .min_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.date.cmp(&b.1.date)));
    let at_head =
        members.iter().any(|f| f.source != Source::History || f.history.as_ref().is_some_and(|h| h.present_at_head));

    let entry = inventory.link(&first.fingerprint, &public_ids);
    let mut identity = Identity {
        fingerprint: first.fingerprint.clone(),
        rule_id: first.rule_id.clone(),
        rule_name: first.rule_name.clone(),
        kind: first.nhi_kind,
        provider: first.provider.clone(),
        identifier: nhi.identifier.clone(),
        lifetime: nhi.lifetime,
        expires: nhi.expires.clone(),
        first_seen: earliest.map(|(d, _)| d.to_string()),
        first_commit: earliest.map(|(_, h)| h.commit.clone()),
        at_head,
        locations,
        paths: paths.len(),
        environments: environments.iter().map(|e| e.to_string()).collect(),
        inventory: entry.map(|e| InventoryLink { id: e.id.clone(), owner: e.owner.clone(), status: e.status }),
        governance: Governance::Unmanaged,
        risks: Vec::new(),
        public_ids,
    };
    let first_seen = earliest.map(|(d, _)| d);
    let mut risks = vec![Risk {
        id: RiskId::SecretLeakage,
        reason: format!(
            "the secret is {} at {} location{}",
            identity.where_found(),
            identity.locations.len(),
            if identity.locations.len() == 1 { "" } else { "s" }
        ),
    }];
    if let Some(e) = entry {
        offboarding(e, &identity, today, &mut risks);
    }
    long_lived(entry, &identity, first_seen, today, &mut risks);
    if identity.paths >= 2 {
        let shown: Vec<&str> = paths.iter().take(3).copied().collect();
        let more = if paths.len() > 3 { ", …" } else { "" };
        risks.push(Risk {
            id: RiskId::NhiReuse,
            reason: format!("the same secret is at {} paths: {}{more}", paths.len(), shown.join(", ")),
        });
    }
    if environments.len() >= 2 {
        let envs: Vec<&str> = environments.iter().copied().collect();
        risks.push(Risk {
            id: RiskId::EnvironmentIsolation,
            reason: format!("the same secret is used in {} environments: {}", envs.len(), envs.join(", ")),
        });
    }
    if let Some(reason) = insecure_authentication(rule, nhi) {
        risks.push(Risk { id: RiskId::InsecureAuthentication, reason });
    }
    if identity.kind == NhiKind::PersonalAccessToken {
        if let Some(p) = paths.iter().find(|p| is_automation(p)) {
            risks.push(Risk {
                id: RiskId::HumanUseOfNhi,
                reason: format!("a personal access token, which acts as a person, is used by automation at {p}"),
            });
        }
    }
    risks.sort_by_key(|r| r.id);
    identity.governance = if entry.is_none() {
        Governance::Unmanaged
    } else if risks.iter().any(|r| r.id == RiskId::ImproperOffboarding) {
        Governance::OffboardingFailure
    } else if risks.iter().any(|r| r.id == RiskId::LongLivedSecrets) {
        Governance::RotationOverdue
    } else {
        Governance::Managed
    };
    identity.risks = risks;
    identity
}

fn offboarding(e: &Entry, identity: &Identity, today: Date, risks: &mut Vec<Risk>) {
    let still = if identity.at_head { "still in code" } else { "still in git history" };
    let mut reasons = Vec::new();
    if matches!(e.status, Status::Retired | Status::Revoked) {
        let status = if e.status == Status::Retired { "retired" } else { "revoked" };
        reasons.push(format!("inventory entry `{}` is {status} but the secret is {still}", e.id));
    }
    if let Some(RetireWhen::Date(d)) = e.retire_when {
        if d <= today {
            reasons.push(format!("inventory entry `{}` was to be retired on {d} but the secret is {still}", e.id));
        }
    }
    if let Some(d) = e.expires {
        if d <= today {
            reasons.push(format!("inventory entry `{}` expired on {d} but the secret is {still}", e.id));
        }
    }
    if !reasons.is_empty() {
        risks.push(Risk { id: RiskId::ImproperOffboarding, reason: reasons.join("; ") });
    }
}

fn long_lived(
    entry: Option<&Entry>,
    identity: &Identity,
    first_seen: Option<Date>,
    today: Date,
    risks: &mut Vec<Risk>,
) {
    let mut reasons = Vec::new();
    if identity.lifetime == Lifetime::LongLived {
        match entry.and_then(|e| e.rotate_every.map(|p| (e, p))) {
            Some((e, period)) => {
                let base = e
                    .last_rotated
                    .map(|d| (d, "last rotated"))
                    .or(e.created.map(|d| (d, "created")))
                    .or(first_seen.map(|d| (d, "first committed")));
                if let Some((base, what)) = base {
                    let due = period.after(base);
                    if due < today {
                        reasons.push(format!("{what} {base}; the policy is to rotate every {period}, due {due}"));
                    }
                }
            }
            // A retired or revoked identity's problem is that it is still there, not its rotation.
            None if entry.is_some_and(|e| matches!(e.status, Status::Retired | Status::Revoked)) => {}
            None => {
                if let Some(seen) = first_seen {
                    if seen.add_days(UNPOLICED_MAX_DAYS) < today {
                        reasons.push(format!(
                            "no rotation policy, and in the repository since {seen} (over {UNPOLICED_MAX_DAYS} days)"
                        ));
                    }
                }
            }
        }
        if let Some(expired) = identity.expires.as_deref().and_then(Date::parse).filter(|d| *d <= today) {
            reasons.push(format!("the secret's own expiry, {expired}, has passed"));
        }
    }
    if let Some(d) = entry.and_then(|e| e.expires).filter(|d| *d <= today) {
        reasons.push(format!("its inventory expiry, {d}, has passed"));
    }
    if !reasons.is_empty() {
        risks.push(Risk { id: RiskId::LongLivedSecrets, reason: reasons.join("; ") });
    }
}

fn insecure_authentication(rule: Option<&Rule>, nhi: &super::Nhi) -> Option<String> {
    let rule = rule?;
    if rule.risks.contains(&RiskId::InsecureAuthentication) {
        return Some(format!("{}: a password that authenticates directly, sent in a URL or as basic auth", rule.name));
    }
    if rule.nhi_kind == NhiKind::PrivateKey && nhi.details.get("encrypted").map(String::as_str) != Some("true") {
        return Some("an unencrypted private key: whoever holds the file holds the identity".to_string());
    }
    None
}

/// The first sentence of a finding's message: what, whose, where. "Stripe secret key owned by
/// team-payments (retired) is still in code."
pub fn headline(f: &Finding) -> String {
    let whose = match &f.inventory {
        Some(link) => format!("owned by {} ({})", link.owner, link.status.as_str()),
        None => "with no inventory entry".to_string(),
    };
    let history_only = f.source == Source::History && !f.history.as_ref().is_some_and(|h| h.present_at_head);
    let place = if history_only { "git history" } else { "code" };
    let verb = if f.governance == Governance::OffboardingFailure { "is still in" } else { "is in" };
    format!("{} {whose} {verb} {place}.", f.rule_name)
}
