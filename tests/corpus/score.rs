//! Maps findings to labels and prints recall and precision (scripts/score-corpus.py does the same).
use std::collections::BTreeMap;
use std::fmt::Write;

use super::model::{Family, Label, Negative, FAMILIES};

#[derive(Clone, Debug)]
pub struct Finding {
    pub repo: &'static str,
    pub path: String,
    pub line: usize,
    pub rule: String,
}

pub struct Outcome {
    /// per label: was it hit by at least one finding
    pub hit: Vec<bool>,
    /// findings that hit no label, with the negative they landed on (if any)
    pub false_positives: Vec<(Finding, Option<usize>)>,
}

pub fn score(labels: &[Label], negatives: &[Negative], findings: &[Finding]) -> Outcome {
    let mut hit = vec![false; labels.len()];
    let mut false_positives = Vec::new();
    for f in findings {
        let mut any = false;
        for (i, l) in labels.iter().enumerate() {
            if l.repo == f.repo && l.path == f.path && l.first_line <= f.line && f.line <= l.last_line {
                hit[i] = true;
                any = true;
            }
        }
        if !any {
            let neg = negatives
                .iter()
                .position(|n| n.repo == f.repo && n.path == f.path && n.first_line <= f.line && f.line <= n.last_line);
            false_positives.push((f.clone(), neg));
        }
    }
    Outcome { hit, false_positives }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        1.0
    } else {
        a as f64 / b as f64
    }
}

pub struct Summary {
    pub recall: f64,
    pub precision: f64,
    pub family_recall: BTreeMap<Family, f64>,
    pub table: String,
}

pub fn summarize(labels: &[Label], negatives: &[Negative], o: &Outcome) -> Summary {
    let mut t = String::new();
    let tp = o.hit.iter().filter(|h| **h).count();
    let fp = o.false_positives.len();
    let recall = ratio(tp, labels.len());
    let precision = ratio(tp, tp + fp);
    let f1 = if recall + precision > 0.0 { 2.0 * recall * precision / (recall + precision) } else { 0.0 };
    let formats: std::collections::BTreeSet<&str> = labels.iter().map(|l| l.format.as_str()).collect();
    let _ = writeln!(
        t,
        "\ncorpus: {} labelled secrets ({} formats, {} in history), {} hard negatives",
        labels.len(),
        formats.len(),
        labels.iter().filter(|l| l.repo == "history").count(),
        negatives.len()
    );
    let _ = writeln!(t, "\n| scope | labels | recalled | recall | FP | precision |");
    let _ = writeln!(t, "|---|---:|---:|---:|---:|---:|");
    let _ = writeln!(t, "| **overall** | {} | {tp} | {recall:.3} | {fp} | {precision:.3} |", labels.len());
    for repo in ["monorepo", "history"] {
        let n = labels.iter().filter(|l| l.repo == repo).count();
        let h = labels.iter().zip(&o.hit).filter(|(l, h)| l.repo == repo && **h).count();
        let f = o.false_positives.iter().filter(|(x, _)| x.repo == repo).count();
        let _ = writeln!(t, "| repo {repo} | {n} | {h} | {:.3} | {f} | {:.3} |", ratio(h, n), ratio(h, h + f));
    }
    let mut family_recall = BTreeMap::new();
    for fam in FAMILIES {
        let n = labels.iter().filter(|l| l.family == fam).count();
        let h = labels.iter().zip(&o.hit).filter(|(l, h)| l.family == fam && **h).count();
        // per-family precision: false positives on negatives that tempt this family's rules
        let f =
            o.false_positives.iter().filter(|(_, neg)| neg.is_some_and(|i| negatives[i].family == Some(fam))).count();
        family_recall.insert(fam, ratio(h, n));
        let _ = writeln!(t, "| {} | {n} | {h} | {:.3} | {f} | {:.3} |", fam.name(), ratio(h, n), ratio(h, h + f));
    }
    let unattributed =
        o.false_positives.iter().filter(|(_, neg)| neg.is_none_or(|i| negatives[i].family.is_none())).count();
    let _ = writeln!(t, "\nF1 {f1:.3}. Family FP = findings on hard negatives tagged with that family; {unattributed} FP are on untagged negatives or unlabelled lines (they count only overall).");

    let _ = writeln!(t, "\n| format | family | labels | recalled | missed at |");
    let _ = writeln!(t, "|---|---|---:|---:|---|");
    let mut by_format: BTreeMap<(&str, &str), Vec<usize>> = BTreeMap::new();
    for (i, l) in labels.iter().enumerate() {
        by_format.entry((l.family.name(), l.format.as_str())).or_default().push(i);
    }
    for ((fam, format), idx) in &by_format {
        let h = idx.iter().filter(|i| o.hit[**i]).count();
        let missed: Vec<String> = idx
            .iter()
            .filter(|i| !o.hit[**i])
            .map(|i| {
                let l = &labels[*i];
                let prefix = if l.repo == "history" { "history:" } else { "" };
                if l.first_line == l.last_line {
                    format!("{prefix}{}:{}", l.path, l.first_line)
                } else {
                    format!("{prefix}{}:{}-{}", l.path, l.first_line, l.last_line)
                }
            })
            .collect();
        let _ = writeln!(t, "| {format} | {fam} | {} | {h} | {} |", idx.len(), missed.join(", "));
    }
    let _ = writeln!(t, "\nfalse positives ({fp}):");
    for (f, neg) in &o.false_positives {
        let what = match neg {
            Some(i) => format!("hard negative: {}", negatives[*i].kind),
            None => "unlabelled line".to_string(),
        };
        let prefix = if f.repo == "history" { "history:" } else { "" };
        let _ = writeln!(t, "  {prefix}{}:{}:{}  ({what})", f.path, f.line, f.rule);
    }
    Summary { recall, precision, family_recall, table: t }
}
