//! Finds rule matches in a blob of bytes.
//!
//! One Aho-Corasick automaton over every rule's keywords picks the rules worth trying on a blob;
//! only their regexes run, each compiled on first use so a scan of three files does not pay for
//! compiling the whole catalogue. A regex match then has to survive the placeholder filter, the
//! rule's entropy floor, its checksum and, when the rule has one, the search for its companion.
pub mod checksum;
pub mod decode;
pub mod entropy;
pub mod placeholder;

use std::ops::Range;
use std::sync::OnceLock;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};
use regex::bytes::Regex;

use crate::rules::{build_regex, Rule, RuleProblem, RuleSet, SECRET_GROUP};

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
    companions: Vec<OnceLock<Result<Regex, String>>>,
    prefilter: AhoCorasick,
    /// For each prefilter pattern, the rules that list it as a keyword.
    pattern_rules: Vec<Vec<usize>>,
    /// Lowercased keywords, by prefilter pattern.
    keywords: Vec<Vec<u8>>,
    /// For each pattern, the longer patterns that contain it, with its offset inside them.
    containers: Vec<Vec<(usize, usize)>>,
}

impl Matcher {
    pub fn new(set: RuleSet) -> Result<Matcher, MatcherError> {
        let rules = set.into_rules();
        let mut keywords: Vec<String> = Vec::new();
        let mut pattern_rules: Vec<Vec<usize>> = Vec::new();
        for (i, rule) in rules.iter().enumerate() {
            for kw in &rule.keywords {
                let kw = kw.to_ascii_lowercase();
                match keywords.iter().position(|k| *k == kw) {
                    Some(p) => {
                        if !pattern_rules[p].contains(&i) {
                            pattern_rules[p].push(i)
                        }
                    }
                    None => {
                        keywords.push(kw);
                        pattern_rules.push(vec![i]);
                    }
                }
            }
        }
        let prefilter = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .kind(Some(AhoCorasickKind::DFA))
            .build(&keywords)
            .or_else(|_| AhoCorasickBuilder::new().ascii_case_insensitive(true).build(&keywords))
            .map_err(|e| MatcherError::Prefilter(e.to_string()))?;
        let n = rules.len();
        let keywords: Vec<Vec<u8>> = keywords.into_iter().map(String::into_bytes).collect();
        let containers = keywords
            .iter()
            .map(|inner| {
                let mut found = Vec::new();
                for (j, outer) in keywords.iter().enumerate() {
                    if outer.len() > inner.len() {
                        found.extend(memchr::memmem::find_iter(outer, inner).map(|k| (j, k)));
                    }
                }
                found
            })
            .collect();
        Ok(Matcher {
            rules,
            keywords,
            containers,
            regexes: (0..n).map(|_| OnceLock::new()).collect(),
            companions: (0..n).map(|_| OnceLock::new()).collect(),
            prefilter,
            pattern_rules,
        })
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
        self.prefilter.is_match(hay)
    }

    /// The rules whose keywords occur in `hay`, in rule order.
    fn candidates(&self, hay: &[u8]) -> Vec<usize> {
        let mut hit = vec![false; self.rules.len()];
        let mut seen_pattern = vec![false; self.pattern_rules.len()];
        let mut mark = |p: usize| {
            if !std::mem::replace(&mut seen_pattern[p], true) {
                for &r in &self.pattern_rules[p] {
                    hit[r] = true;
                }
            }
        };
        // Non-overlapping search, restarted one byte after each match's start, is faster than an
        // overlapping one and misses only keywords that contain the one reported (it ends first);
        // those are checked in place. Every keyword occurrence is thus seen (tested below).
        let mut at = 0;
        while at < hay.len() {
            let Some(m) = self.prefilter.find(aho_corasick::Input::new(hay).range(at..)) else { break };
            let p = m.pattern().as_usize();
            mark(p);
            for &(outer, offset) in &self.containers[p] {
                let word = &self.keywords[outer];
                if let Some(start) = m.start().checked_sub(offset) {
                    if hay.get(start..start + word.len()).is_some_and(|h| h.eq_ignore_ascii_case(word)) {
                        mark(outer);
                    }
                }
            }
            at = m.start() + 1;
        }
        hit.iter().enumerate().filter(|(_, &h)| h).map(|(i, _)| i).collect()
    }

    /// Every accepted match in `hay`, ordered by secret position then rule.
    pub fn find(&self, hay: &[u8]) -> Result<Vec<RawMatch>, MatcherError> {
        let mut out = Vec::new();
        let mut bad_checksums = Vec::new();
        for i in self.candidates(hay) {
            self.find_rule(i, hay, &mut out, &mut bad_checksums)?;
        }
        out.sort_by_key(|m| (m.secret.start, m.secret.end, m.rule));
        drop_generic_overlaps(&self.rules, &mut out, &bad_checksums);
        Ok(out)
    }

    /// Appends rule `i`'s accepted matches to `out`, and to `bad_checksums` the spans its checksum
    /// rejected (a token of a known format that is not genuine is no generic secret either).
    fn find_rule(
        &self,
        i: usize,
        hay: &[u8],
        out: &mut Vec<RawMatch>,
        bad_checksums: &mut Vec<Range<usize>>,
    ) -> Result<(), MatcherError> {
        let rule = &self.rules[i];
        let re = self.regex(i)?;
        let Some(group) = re.capture_names().position(|n| n == Some(SECRET_GROUP)) else {
            return Ok(());
        };
        let mut locs = re.capture_locations();
        let mut at = 0;
        while at <= hay.len() {
            let Some(whole) = re.captures_read_at(&mut locs, hay, at) else { break };
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
        let window = line_window(hay, primary.clone(), lines as usize);
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

/// The byte range covering `lines` whole lines before and after `span`.
fn line_window(hay: &[u8], span: Range<usize>, lines: usize) -> Range<usize> {
    let mut start = span.start;
    for _ in 0..=lines {
        match memchr::memrchr(b'\n', &hay[..start]) {
            Some(p) => start = p,
            None => {
                start = 0;
                break;
            }
        }
    }
    if start > 0 || hay.first() == Some(&b'\n') {
        start = (start + 1).min(span.start);
    }
    let mut end = span.end;
    for _ in 0..=lines {
        match memchr::memchr(b'\n', &hay[end.min(hay.len())..]) {
            Some(p) => end = end + p + 1,
            None => {
                end = hay.len();
                break;
            }
        }
    }
    start..end.min(hay.len())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::Loader;

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
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
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
            assert_eq!(m.candidates(&hay), expected, "{}", String::from_utf8_lossy(&hay));
        }
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
        assert_eq!(m.candidates(b"nothing"), Vec::<usize>::new());
        assert_eq!(m.candidates(b"DEMO_ and SECRET"), vec![0, 1]);
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

    #[test]
    fn line_window_bounds() {
        let hay = b"a\nb\nc\nd\ne";
        let span = 4..5; // "c"
        assert_eq!(&hay[line_window(hay, span.clone(), 0)], b"c\n");
        assert_eq!(&hay[line_window(hay, span.clone(), 1)], b"b\nc\nd\n");
        assert_eq!(&hay[line_window(hay, span, 9)], hay);
    }
}
