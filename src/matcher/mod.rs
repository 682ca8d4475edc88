//! Finds rule matches in a blob of bytes.
//!
//! A keyword search over every rule's keywords picks the rules worth trying on a blob and where:
//! each such rule's regex runs only on the lines around its keywords' occurrences (see
//! [`window`]), and is compiled on first use so a scan of three files does not pay for compiling
//! the whole catalogue. A regex match then has to survive the placeholder filter, the rule's
//! entropy floor, its checksum and, when the rule has one, the search for its companion.
pub mod checksum;
pub mod decode;
pub mod entropy;
pub mod keywords;
pub mod placeholder;
pub mod window;

use std::ops::Range;
use std::sync::OnceLock;

use regex::bytes::Regex;

use crate::config::ValueAllowlist;
use crate::rules::{build_regex, Rule, RuleProblem, RuleSet, SECRET_GROUP};
use window::Reach;

#[derive(Debug, thiserror::Error)]
pub enum MatcherError {
    #[error("rule `{rule}`: {what} does not compile: {message}")]
    Regex { rule: String, what: &'static str, message: String },
    #[error("cannot build the keyword prefilter: {0}")]
    Prefilter(String),
}

/// One accepted match of one rule.
#[derive(Clone, Debug, PartialEq)]
pub struct RawMatch {
    /// Index of the rule in the matcher's rule list.
    pub rule: usize,
    /// Byte span of the `secret` capture.
    pub secret: Range<usize>,
    /// Byte span of the companion's `secret` capture, when one was found.
    pub companion: Option<Range<usize>>,
    /// Shannon entropy of the secret, bits per byte.
    pub entropy: f64,
}

/// The compiled form of a rule set; `Sync`, built once and shared by every scanning thread.
pub struct Matcher {
    rules: Vec<Rule>,
    regexes: Vec<OnceLock<Result<Regex, String>>>,
    /// How far from a keyword hit each rule's matches can lie.
    reaches: Vec<Reach>,
    companions: Vec<OnceLock<Result<Regex, String>>>,
    keywords: keywords::Keywords,
    /// For each keyword, the rules that list it.
    keyword_rules: Vec<Vec<usize>>,
    /// Secrets the project's settings say are not secrets.
    allowlist: ValueAllowlist,
}

impl Matcher {
    pub fn new(set: RuleSet) -> Result<Matcher, MatcherError> {
        let rules = set.into_rules();
        let mut keywords: Vec<String> = Vec::new();
        let mut keyword_rules: Vec<Vec<usize>> = Vec::new();
        for (i, rule) in rules.iter().enumerate() {
            for kw in &rule.keywords {
                let kw = kw.to_ascii_lowercase();
                match keywords.iter().position(|k| *k == kw) {
                    Some(p) => {
                        if !keyword_rules[p].contains(&i) {
                            keyword_rules[p].push(i)
                        }
                    }
                    None => {
                        keywords.push(kw);
                        keyword_rules.push(vec![i]);
                    }
                }
            }
        }
        let n = rules.len();
        let keywords = keywords::Keywords::new(&keywords).map_err(|e| MatcherError::Prefilter(e.to_string()))?;
        Ok(Matcher {
            reaches: rules.iter().map(|r| if r.keyword_anywhere { Reach::Blob } else { Reach::of(&r.regex) }).collect(),
            rules,
            keywords,
            keyword_rules,
            regexes: (0..n).map(|_| OnceLock::new()).collect(),
            companions: (0..n).map(|_| OnceLock::new()).collect(),
            allowlist: ValueAllowlist::default(),
        })
    }

    /// Drops every match whose secret `allowlist` allows.
    pub fn with_allowlist(mut self, allowlist: ValueAllowlist) -> Matcher {
        self.allowlist = allowlist;
        self
    }

    /// How many matches the value allowlist dropped so far.
    pub fn allowlisted(&self) -> u64 {
        self.allowlist.dropped()
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    pub fn rule(&self, index: usize) -> &Rule {
        &self.rules[index]
    }

    fn regex(&self, i: usize) -> Result<&Regex, MatcherError> {
        let cell = self.regexes[i].get_or_init(|| build_regex(&self.rules[i].regex).map_err(|e| e.to_string()));
        cell.as_ref().map_err(|message| MatcherError::Regex {
            rule: self.rules[i].id.clone(),
            what: "regex",
            message: message.clone(),
        })
    }

    fn companion_regex(&self, i: usize) -> Result<&Regex, MatcherError> {
        let pattern = self.rules[i].companion.as_ref().map(|c| c.regex.as_str()).unwrap_or("");
        let cell = self.companions[i].get_or_init(|| build_regex(pattern).map_err(|e| e.to_string()));
        cell.as_ref().map_err(|message| MatcherError::Regex {
            rule: self.rules[i].id.clone(),
            what: "companion regex",
            message: message.clone(),
        })
    }

    /// Runs every rule's examples and negative examples through the whole engine (prefilter,
    /// regex, placeholder filter, entropy, checksum, companion, overlap resolution).
    pub fn check_examples(&self) -> Vec<RuleProblem> {
        let mut problems = Vec::new();
        for (i, rule) in self.rules.iter().enumerate() {
            let mut report = |message: String| {
                problems.push(RuleProblem {
                    file: rule.source.clone(),
                    line: Some(rule.line),
                    rule_id: Some(rule.id.clone()),
                    message,
                })
            };
            for (n, ex) in rule.examples.iter().enumerate() {
                match self.find(ex.as_bytes()) {
                    Err(e) => report(e.to_string()),
                    Ok(found) if !found.iter().any(|m| m.rule == i) => {
                        let others: Vec<&str> = found.iter().map(|m| self.rules[m.rule].id.as_str()).collect();
                        let note = if others.is_empty() {
                            String::new()
                        } else {
                            format!(" (found by {} instead)", others.join(", "))
                        };
                        report(format!("example {} is not found{note}", n + 1))
                    }
                    Ok(_) => {}
                }
            }
            for (n, ex) in rule.negative_examples.iter().enumerate() {
                if let Ok(found) = self.find(ex.as_bytes()) {
                    if found.iter().any(|m| m.rule == i) {
                        report(format!("negative example {} is found", n + 1));
                    }
                }
            }
        }
        problems
    }

    /// Whether any rule's keyword occurs in `hay`.
    pub fn has_keyword(&self, hay: &[u8]) -> bool {
        self.keywords.any(hay)
    }

    /// The spans of the keywords' occurrences in `hay`, each with a rule that lists the keyword;
    /// by rule.
    fn keyword_hits(&self, hay: &[u8]) -> Vec<(usize, Range<usize>)> {
        let mut hits = Vec::new();
        self.keywords.each(hay, |k, span| {
            hits.extend(self.keyword_rules[k].iter().map(|&r| (r, span.clone())));
            std::ops::ControlFlow::Continue(())
        });
        hits.sort_by_key(|(rule, _)| *rule);
        hits
    }

    /// Every accepted match in `hay`, ordered by secret position then rule.
    pub fn find(&self, hay: &[u8]) -> Result<Vec<RawMatch>, MatcherError> {
        let mut out = Vec::new();
        let mut bad_checksums = Vec::new();
        let hits = self.keyword_hits(hay);
        for same_rule in hits.chunk_by(|a, b| a.0 == b.0) {
            let i = same_rule[0].0;
            let spans = same_rule.iter().map(|(_, span)| span.clone());
            for span in window::windows(hay, self.reaches[i], spans) {
                self.find_rule(i, hay, span, &mut out, &mut bad_checksums)?;
            }
        }
        out.sort_by_key(|m| (m.secret.start, m.secret.end, m.rule));
        drop_generic_overlaps(&self.rules, &mut out, &bad_checksums);
        Ok(out)
    }

    /// Appends rule `i`'s accepted matches inside `span` of `hay` to `out`, and to `bad_checksums`
    /// the spans its checksum rejected (a token of a known format that is not genuine is no
    /// generic secret either).
    fn find_rule(
        &self,
        i: usize,
        hay: &[u8],
        span: Range<usize>,
        out: &mut Vec<RawMatch>,
        bad_checksums: &mut Vec<Range<usize>>,
    ) -> Result<(), MatcherError> {
        let rule = &self.rules[i];
        let re = self.regex(i)?;
        let Some(group) = re.capture_names().position(|n| n == Some(SECRET_GROUP)) else {
            return Ok(());
        };
        let mut locs = re.capture_locations();
        // The bytes before the window stay visible to the regex, so `^` and `\b` at its start
        // answer as they would in the whole blob; the window ends after a line break.
        let searched = &hay[..span.end];
        let mut at = span.start;
        while at <= searched.len() {
            let Some(whole) = re.captures_read_at(&mut locs, searched, at) else { break };
            let secret_span = locs.get(group);
            // Resume right after the secret, not after the whole match: a rule that consumes a
            // delimiter before its token must still see the next token when only one character
            // separates them. Always advance, so an empty match cannot loop.
            at = match secret_span {
                Some((_, e)) if e > whole.start() => e,
                _ => whole.end().max(whole.start() + 1),
            };
            let Some((s, e)) = secret_span else { continue };
            let secret = &hay[s..e];
            if placeholder::is_placeholder(secret)
                || (rule.nhi_kind.is_generic() && placeholder::is_implausible_generic(secret))
            {
                continue;
            }
            if self.allowlist.allows(secret) {
                continue;
            }
            let ent = entropy::shannon(secret);
            if rule.min_entropy.is_some_and(|min| ent < min) {
                continue;
            }
            if rule.checksum.is_some_and(|c| !checksum::verify(c, secret)) {
                bad_checksums.push(s..e);
                continue;
            }
            let companion = match &rule.companion {
                None => None,
                Some(c) => {
                    let found = self.find_companion(i, hay, s..e, c.within_lines)?;
                    if c.required && found.is_none() {
                        continue;
                    }
                    found
                }
            };
            out.push(RawMatch { rule: i, secret: s..e, companion, entropy: ent });
        }
        Ok(())
    }

    /// The companion match closest to `primary` within `lines` lines of it.
    fn find_companion(
        &self,
        i: usize,
        hay: &[u8],
        primary: Range<usize>,
        lines: u32,
    ) -> Result<Option<Range<usize>>, MatcherError> {
        let re = self.companion_regex(i)?;
        let Some(group) = re.capture_names().position(|n| n == Some(SECRET_GROUP)) else {
            return Ok(None);
        };
        let window = window::lines_around(hay, primary.clone(), lines as usize);
        let mut locs = re.capture_locations();
        let mut best: Option<(usize, Range<usize>)> = None;
        let mut at = window.start;
        let slice = &hay[..window.end];
        while at <= slice.len() {
            let Some(whole) = re.captures_read_at(&mut locs, slice, at) else { break };
            at = if whole.end() > whole.start() { whole.end() } else { whole.end() + 1 };
            let Some((s, e)) = locs.get(group) else { continue };
            if s < primary.end && primary.start < e {
                continue;
            }
            if placeholder::is_placeholder(&hay[s..e]) {
                continue;
            }
            let distance = if s >= primary.end { s - primary.end } else { primary.start - e };
            if best.as_ref().is_none_or(|(d, _)| distance < *d) {
                best = Some((distance, s..e));
            }
        }
        Ok(best.map(|(_, r)| r))
    }
}

/// A vendor rule is more precise than a context rule: where both claim overlapping text, keep the
/// vendor's finding only. Two generic rules on the same text keep the first.
fn drop_generic_overlaps(rules: &[Rule], matches: &mut Vec<RawMatch>, bad_checksums: &[Range<usize>]) {
    let overlaps = |a: &Range<usize>, b: &Range<usize>| a.start < b.end && b.start < a.end;
    let specific: Vec<Range<usize>> = matches
        .iter()
        .filter(|m| !rules[m.rule].nhi_kind.is_generic())
        .map(|m| m.secret.clone())
        .chain(bad_checksums.iter().cloned())
        .collect();
    let mut kept_generic: Vec<Range<usize>> = Vec::new();
    matches.retain(|m| {
        if !rules[m.rule].nhi_kind.is_generic() {
            return true;
        }
        if specific.iter().chain(&kept_generic).any(|s| overlaps(s, &m.secret)) {
            return false;
        }
        kept_generic.push(m.secret.clone());
        true
    });
}

/// A seeded xorshift source for the property tests: each call gives a number below its argument.
#[cfg(test)]
pub(crate) fn below(seed: u64) -> impl FnMut(usize) -> usize {
    let mut state = seed;
    move |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n as u64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::Loader;
    use aho_corasick::AhoCorasickBuilder;

    #[test]
    fn keyword_candidates_equal_an_overlapping_search() {
        let words =
            ["sk-", "sk-ant-", "ant", "t-a", "token", "ken", "_token", "xoxb-", "xb-", "api_key", "key", "pi_k"];
        let mut toml = String::new();
        for (i, w) in words.iter().enumerate() {
            toml.push_str(&format!(
                "[[rule]]\nid = \"r{i}\"\nname = \"n\"\ndescription = \"d\"\nprovider = \"p\"\nnhi_kind = \"api_key\"\n\
                 keywords = [\"{w}\"]\nregex = '''(?P<secret>zzzz)'''\nexamples = ['{w} zzzz']\nnegative_examples = ['none']\n\n"
            ));
        }
        let m = matcher(&toml);
        let overlapping = AhoCorasickBuilder::new().ascii_case_insensitive(true).build(words).unwrap();
        // Keywords and pieces of keywords glued together, so that they overlap and nest every way.
        let mut next = below(0x9E37_79B9_7F4A_7C15);
        for _ in 0..20_000 {
            let mut hay = Vec::new();
            for _ in 0..next(5) + 1 {
                let w = words[next(words.len())].as_bytes();
                let from = if next(3) == 0 { next(w.len()) } else { 0 };
                hay.extend_from_slice(&w[from..]);
            }
            let mut expected: Vec<usize> =
                overlapping.find_overlapping_iter(&hay[..]).map(|x| x.pattern().as_usize()).collect();
            expected.sort();
            expected.dedup();
            assert_eq!(candidates(&m, &hay), expected, "{}", String::from_utf8_lossy(&hay));
        }
    }

    /// The rules with at least one keyword hit.
    fn candidates(m: &Matcher, hay: &[u8]) -> Vec<usize> {
        let mut rules: Vec<usize> = m.keyword_hits(hay).iter().map(|(rule, _)| *rule).collect();
        rules.dedup();
        rules
    }

    fn matcher(toml: &str) -> Matcher {
        let mut l = Loader::default();
        l.add_text("t.toml", toml);
        Matcher::new(l.finish().unwrap()).unwrap()
    }

    const RULES: &str = r#"
[[rule]]
id = "demo-key"
name = "Demo key"
description = "d"
provider = "demo"
nhi_kind = "api_key"
keywords = ["demo_"]
regex = '''\b(?P<secret>demo_[A-Za-z0-9]{12})\b'''
min_entropy = 3.0
examples = ["demo_Q8zK2mP4xR7w"]
negative_examples = ["demo_short"]

[[rule]]
id = "generic-secret"
name = "Generic"
description = "d"
provider = "generic"
nhi_kind = "generic_secret"
keywords = ["secret"]
regex = '''secret\s*=\s*"(?P<secret>[^"]{8,64})"'''
examples = ['secret = "Zk3p" + "Q9rT2wXy"']
negative_examples = ['secret = ""']

[[rule]]
id = "pair-id"
name = "Pair"
description = "d"
provider = "demo"
nhi_kind = "cloud_access_key"
keywords = ["PAIR"]
regex = '''\b(?P<secret>PAIR[A-Z0-9]{8})\b'''
examples = ["PAIRQ8ZK2MP4 / k3Jx9Qw2Lm5Z"]
negative_examples = ["PAIR"]
[rule.companion]
name = "pair_secret"
regex = '''pair_secret\s*=\s*(?P<secret>[A-Za-z0-9]{12})'''
within_lines = 2
required = true
"#;

    #[test]
    fn prefilter_case_insensitive_and_selective() {
        let m = matcher(RULES);
        assert_eq!(candidates(&m, b"nothing"), Vec::<usize>::new());
        assert_eq!(candidates(&m, b"DEMO_ and SECRET"), vec![0, 1]);
    }

    #[test]
    fn entropy_and_placeholders_filter_matches() {
        let m = matcher(RULES);
        let found = m.find(b"a demo_Q8zK2mP4xR7w b").unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].secret, 2..19);
        assert!(m.find(b"demo_aaaaaaaaaaab").unwrap().is_empty(), "low entropy");
        assert!(m.find(b"demo_xxxxQ8zK2mP4").unwrap().is_empty(), "placeholder");
    }

    #[test]
    fn vendor_rule_beats_generic_on_same_text() {
        let m = matcher(RULES);
        let text = format!("secret = \"demo_{}\"", "Q8zK2mP4xR7w");
        let found = m.find(text.as_bytes()).unwrap();
        assert_eq!(found.iter().map(|f| f.rule).collect::<Vec<_>>(), vec![0]);
    }

    #[test]
    fn adjacent_tokens_behind_a_consumed_delimiter_are_all_found() {
        let m = matcher(
            r#"
[[rule]]
id = "delim"
name = "d"
description = "d"
provider = "demo"
nhi_kind = "api_key"
keywords = ["tok"]
regex = '''(?:^|[^A-Za-z0-9])(?P<secret>tok[A-Za-z0-9]{8})(?:[^A-Za-z0-9]|$)'''
examples = ["tok"]
negative_examples = ["y"]
"#,
        );
        let found = m.find(b"tokQ8zK2mP4,tokR7wX3nL9,tokT5yV1bM6").unwrap();
        assert_eq!(found.len(), 3, "{found:?}");
    }

    #[test]
    fn regexes_run_near_keywords_unless_the_keyword_marks_the_whole_blob() {
        let rule = |id: &str, anywhere: bool| {
            format!(
                "[[rule]]\nid = \"{id}\"\nname = \"n\"\ndescription = \"d\"\nprovider = \"p\"\nnhi_kind = \"api_key\"\n\
                 keywords = [\"acme\"]\nkeyword_anywhere = {anywhere}\nregex = '''\\b(?P<secret>[A-Z0-9]{{16}})\\b'''\n\
                 examples = ['acme Q8ZK2MP4XR7WN5TB']\nnegative_examples = ['none']\n\n"
            )
        };
        let m = matcher(&(rule("near", false) + &rule("anywhere", true)));
        let found = |text: &str| -> Vec<String> {
            m.find(text.as_bytes()).unwrap().iter().map(|f| m.rule(f.rule).id.clone()).collect()
        };
        let token = ["Q8ZK2MP4", "XR7WN5TB"].concat();
        let filler = "x\n".repeat(40);
        assert_eq!(found(&format!("{filler}acme:\n\n  {token}\n{filler}")), ["near", "anywhere"]);
        assert_eq!(found(&format!("{filler}acme:\n\n\n  {token}\n{filler}")), ["anywhere"], "three lines away");
        assert_eq!(found(&format!("{filler}  {token}\n{filler}")), Vec::<String>::new(), "no keyword at all");
    }

    #[test]
    fn required_companion_within_lines() {
        let m = matcher(RULES);
        let near = b"id = PAIRQ8ZK2MP4\nx\npair_secret = k3Jx9Qw2Lm5Z\n";
        let found = m.find(near).unwrap();
        assert_eq!(found.len(), 1);
        let c = found[0].companion.clone().unwrap();
        assert_eq!(&near[c], b"k3Jx9Qw2Lm5Z");
        let far = b"id = PAIRQ8ZK2MP4\n1\n2\n3\npair_secret = k3Jx9Qw2Lm5Z\n";
        assert!(m.find(far).unwrap().is_empty());
        let before = b"pair_secret = k3Jx9Qw2Lm5Z\nid = PAIRQ8ZK2MP4";
        assert_eq!(m.find(before).unwrap().len(), 1);
    }
}
