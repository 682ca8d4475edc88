//! What each provider's credentials are and how to rotate and revoke them, for the help text of
//! reports. Data, in `rules/providers/guide.toml`, embedded at build time.
use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::Deserialize;

const GUIDE: &str = include_str!("../../rules/providers/guide.toml");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderGuide {
    pub name: String,
    pub console: Option<String>,
    pub rotate: String,
    pub revoke: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KindGuide {
    pub about: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Guide {
    #[serde(default)]
    pub provider: BTreeMap<String, ProviderGuide>,
    #[serde(default)]
    pub kind: BTreeMap<String, KindGuide>,
}

/// The embedded guide; empty if it does not parse (a test checks that it does).
pub fn guide() -> &'static Guide {
    static CELL: OnceLock<Guide> = OnceLock::new();
    CELL.get_or_init(|| parse().unwrap_or_default())
}

pub fn parse() -> Result<Guide, toml::de::Error> {
    toml::from_str(GUIDE)
}

impl Guide {
    /// The provider's guide, or the generic one.
    pub fn provider(&self, slug: &str) -> Option<&ProviderGuide> {
        self.provider.get(slug).or_else(|| self.provider.get("generic"))
    }

    /// The provider's display name: its guide's, else the slug.
    pub fn display_name<'a>(&'a self, slug: &'a str) -> &'a str {
        self.provider.get(slug).map_or(slug, |p| p.name.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{NhiKind, RuleSet};

    #[test]
    fn every_provider_and_kind_of_the_builtin_rules_has_guidance() {
        let g = parse().expect("rules/providers/guide.toml parses");
        let rules = RuleSet::builtin().unwrap();
        for r in rules.rules() {
            assert!(
                g.provider.contains_key(&r.provider),
                "provider `{}` of rule `{}` has no guide entry",
                r.provider,
                r.id
            );
        }
        for k in NhiKind::ALL {
            assert!(g.kind.contains_key(k.as_str()), "kind `{k}` has no guide entry");
        }
        assert!(g.provider.contains_key("generic"));
        for (slug, p) in &g.provider {
            assert!(!p.rotate.is_empty() && !p.revoke.is_empty() && !p.name.is_empty(), "{slug}");
        }
    }
}
