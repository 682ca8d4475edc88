//! Keyword prefilter throughput: the trigram search keytrail uses against an Aho-Corasick DFA over
//! the same keywords (the previous design), single thread, on a tree of real files held in memory.
//!
//!     cargo bench --bench prefilter [-- DIR]      (default DIR: ~/.cargo/registry/src)
//!
//! Prints MB/s for each and the ratio; BENCHMARKS.md records a run.
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::Instant;

use aho_corasick::{AhoCorasickBuilder, AhoCorasickKind, Input, MatchKind};
use keytrail::matcher::keywords::Keywords;
use keytrail::rules::RuleSet;

fn main() {
    let dir = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .map(PathBuf::from)
        .unwrap_or_else(|| home().join(".cargo/registry/src"));
    let mut blobs = Vec::new();
    collect(&dir, &mut blobs, 256 << 20);
    let bytes: usize = blobs.iter().map(Vec::len).sum();
    if bytes == 0 {
        eprintln!("prefilter bench: no files under {}", dir.display());
        std::process::exit(2);
    }
    let rules = RuleSet::builtin().expect("built-in rules load");
    let mut words: Vec<String> =
        rules.rules().iter().flat_map(|r| r.keywords.iter().map(|k| k.to_ascii_lowercase())).collect();
    words.sort();
    words.dedup();
    println!("{} files, {:.1} MiB, {} keywords", blobs.len(), bytes as f64 / 1048576.0, words.len());

    let trigram = Keywords::new(&words).expect("keywords are long enough");
    let ac = AhoCorasickBuilder::new()
        .ascii_case_insensitive(true)
        .match_kind(MatchKind::Standard)
        .kind(Some(AhoCorasickKind::DFA))
        .build(&words)
        .expect("automaton builds");

    let time = |name: &str, f: &dyn Fn(&[u8]) -> usize| {
        let mut best = f64::MAX;
        let mut hits = 0;
        for _ in 0..5 {
            let t = Instant::now();
            hits = blobs.iter().map(|b| f(b)).sum::<usize>();
            best = best.min(t.elapsed().as_secs_f64());
        }
        println!("{name:<28} {:>8.0} MB/s  {hits} hits", bytes as f64 / best / 1e6);
        best
    };
    let tri = time("trigram filter (keytrail)", &|b| {
        let mut n = 0;
        trigram.each(b, |_, _| {
            n += 1;
            ControlFlow::Continue(())
        });
        n
    });
    let dfa = time("aho-corasick DFA, restarted", &|b| {
        let mut n = 0;
        let mut at = 0;
        while let Some(m) = ac.find(Input::new(b).range(at..)) {
            n += 1;
            at = m.start() + 1;
        }
        n
    });
    println!("trigram filter takes {:.2}x the time of the DFA", tri / dfa);
}

fn home() -> PathBuf {
    std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default()
}

fn collect(dir: &Path, out: &mut Vec<Vec<u8>>, budget: usize) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        if out.iter().map(Vec::len).sum::<usize>() >= budget {
            return;
        }
        let path = e.path();
        match e.file_type() {
            Ok(t) if t.is_dir() => collect(&path, out, budget),
            Ok(t) if t.is_file() => {
                if let Ok(b) = std::fs::read(&path) {
                    if !b[..b.len().min(8000)].contains(&0) {
                        out.push(b);
                    }
                }
            }
            _ => {}
        }
    }
}
