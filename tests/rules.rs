//! Every built-in rule's examples through the whole engine: prefilter, regex, placeholder filter,
//! entropy, checksum, companion and overlap resolution.
use keytrail::matcher::Matcher;
use keytrail::rules::{builtin_files, Loader, NhiKind};

#[test]
fn builtin_rules_are_valid_and_their_examples_behave() {
    let mut loader = Loader::default();
    for (name, text) in builtin_files() {
        loader.add_text(name, text);
    }
    // Loader::default compiles every regex and checks each example holds one of its keywords.
    let set = loader.finish().unwrap_or_else(|e| panic!("{e}"));
    assert!(set.len() >= 150, "only {} rules", set.len());
    let matcher = Matcher::new(set).unwrap();
    let problems = matcher.check_examples();
    let listed: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
    assert!(problems.is_empty(), "{}", listed.join("\n"));
}

#[test]
fn every_rule_has_examples_on_both_sides() {
    let mut loader = Loader::default();
    for (name, text) in builtin_files() {
        loader.add_text(name, text);
    }
    let set = loader.finish().unwrap();
    for r in set.rules() {
        assert!(!r.examples.is_empty() && !r.negative_examples.is_empty(), "{}", r.id);
        assert!(!r.description.is_empty(), "{}", r.id);
    }
    // The starter catalogue covers these providers and kinds.
    for provider in [
        "aws",
        "gcp",
        "azure",
        "github",
        "gitlab",
        "slack",
        "stripe",
        "openai",
        "anthropic",
        "twilio",
        "sendgrid",
        "npm",
        "pypi",
        "alibaba",
        "ibm",
        "oracle",
        "digitalocean",
        "linode",
        "heroku",
        "cloudflare",
        "fastly",
        "vercel",
        "netlify",
        "supabase",
        "planetscale",
        "bitbucket",
        "circleci",
        "buildkite",
        "travis",
        "sourcegraph",
        "jfrog",
        "dockerhub",
        "rubygems",
        "nuget",
        "cratesio",
        "clojars",
        "discord",
        "telegram",
        "msteams",
        "mailgun",
        "mailchimp",
        "postmark",
        "square",
        "shopify",
        "paypal",
        "facebook",
        "firebase",
        "mapbox",
        "algolia",
        "airtable",
        "notion",
        "linear",
        "atlassian",
        "asana",
        "hubspot",
        "okta",
        "auth0",
        "onepassword",
        "doppler",
        "hashicorp_vault",
        "terraform",
        "pulumi",
        "databricks",
        "datadog",
        "newrelic",
        "sentry",
        "grafana",
        "dynatrace",
        "pagerduty",
        "huggingface",
        "groq",
        "replicate",
        "perplexity",
        "cohere",
        "mistral",
    ] {
        assert!(set.rules().iter().any(|r| r.provider == provider), "no rule for {provider}");
    }
    for kind in [NhiKind::PrivateKey, NhiKind::SessionToken, NhiKind::DatabaseCredential, NhiKind::Password] {
        assert!(set.rules().iter().any(|r| r.nhi_kind == kind), "no rule of kind {kind}");
    }
}
