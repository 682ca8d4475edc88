//! Finds every occurrence of every rule keyword in a blob, ASCII case-insensitively.
//!
//! This is the first thing run on every byte scanned, so it has to be fast. An Aho-Corasick DFA
//! over the catalogue's ~430 keywords gets no SIMD prefilter (too many patterns, too many distinct
//! first bytes) and walks one state transition per byte, a chain of dependent loads: about
//! 0.5 GB/s here. Instead, each keyword is represented by its rarest three bytes; a blob is
//! scanned for those trigrams through a hashed bit set small enough to stay in L1 cache, with no
//! dependency from one position to the next, and only the few positions that pass are compared
//! with the keywords whose trigram hashes there. The measurement is in BENCHMARKS.md
//! ("Keyword prefilter"); `benches/prefilter.rs` repeats it.
//!
//! Every occurrence is found: an occurrence of a keyword contains that keyword's chosen trigram at
//! a fixed offset, so the scan stops there and the comparison confirms it. A unit test checks the
//! hits against an overlapping Aho-Corasick search.
use std::ops::{ControlFlow, Range};

/// Trigrams are hashed into `1 << HASH_BITS` slots: 16 KiB of filter bits.
const HASH_BITS: u32 = 17;
const SLOTS: usize = 1 << HASH_BITS;

/// The 4000 most common trigrams of source code and prose, lower-cased, most common first (written
/// by `scripts/common-trigrams.py`). A keyword is represented by its trigram that comes latest in
/// this list or not at all: on source trees that lets about one position in 140 through the
/// filter, against one in 60 for the trigram of rarest bytes.
const COMMON_TRIGRAMS: &str = include_str!("common_trigrams.txt");

/// How common a trigram is: its place from the end of [`COMMON_TRIGRAMS`], 0 when not listed.
fn commonness(list: &std::collections::HashMap<&[u8], usize>, trigram: &[u8]) -> usize {
    list.get(trigram).copied().unwrap_or(0)
}

/// A keyword shorter than this has no trigram.
pub const MIN_KEYWORD_LEN: usize = 3;

#[derive(Debug, thiserror::Error)]
pub enum KeywordError {
    #[error("keyword `{0}` is shorter than {MIN_KEYWORD_LEN} bytes")]
    TooShort(String),
    #[error("{0} keywords are more than the prefilter holds")]
    TooMany(usize),
}
use KeywordError::{TooMany, TooShort};

/// The keyword searcher; `Sync`, built once per rule set.
pub struct Keywords {
    /// Lower-cased keywords, by index.
    words: Vec<Vec<u8>>,
    /// One bit per slot: some keyword's trigram hashes there.
    filter: Vec<u64>,
    /// For each 64-slot word of `filter`, how many occupied slots precede it: with a popcount this
    /// gives an occupied slot's rank without a table as large as the slot count.
    rank_base: Vec<u16>,
    /// `entries[rank_start[r]..rank_start[r + 1]]` are the keywords whose trigram hashes to the
    /// occupied slot of rank `r`.
    rank_start: Vec<u32>,
    /// A keyword and the offset of its trigram in it.
    entries: Vec<(u32, u32)>,
}

impl Keywords {
    pub fn new<S: AsRef<[u8]>>(keywords: &[S]) -> Result<Keywords, KeywordError> {
        let words: Vec<Vec<u8>> = keywords.iter().map(|k| k.as_ref().to_ascii_lowercase()).collect();
        let listed: Vec<&[u8]> = COMMON_TRIGRAMS.trim_end().as_bytes().chunks_exact(3).collect();
        let common: std::collections::HashMap<&[u8], usize> =
            listed.iter().enumerate().map(|(rank, t)| (*t, listed.len() - rank)).collect();
        let mut by_slot: Vec<(u32, u32, u32)> = Vec::with_capacity(words.len());
        for (i, w) in words.iter().enumerate() {
            if w.len() < MIN_KEYWORD_LEN {
                return Err(TooShort(String::from_utf8_lossy(w).into_owned()));
            }
            let offset =
                (0..=w.len() - MIN_KEYWORD_LEN).min_by_key(|&o| commonness(&common, &w[o..o + 3])).unwrap_or(0);
            let slot = trigram_hash(w[offset], w[offset + 1], w[offset + 2]);
            by_slot.push((slot as u32, i as u32, offset as u32));
        }
        by_slot.sort_unstable();
        let mut filter = vec![0u64; SLOTS / 64];
        let mut rank_start = Vec::new();
        for (i, &(slot, _, _)) in by_slot.iter().enumerate() {
            if i == 0 || by_slot[i - 1].0 != slot {
                rank_start.push(i as u32);
            }
            filter[slot as usize / 64] |= 1 << (slot % 64);
        }
        rank_start.push(by_slot.len() as u32);
        let mut rank_base = Vec::with_capacity(filter.len());
        let mut before = 0u32;
        for word in &filter {
            rank_base.push(u16::try_from(before).map_err(|_| TooMany(words.len()))?);
            before += word.count_ones();
        }
        let entries = by_slot.iter().map(|&(_, word, offset)| (word, offset)).collect();
        Ok(Keywords { words, filter, rank_base, rank_start, entries })
    }

    /// The keyword with index `i`, lower-cased.
    pub fn word(&self, i: usize) -> &[u8] {
        &self.words[i]
    }

    pub fn len(&self) -> usize {
        self.words.len()
    }

    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// Calls `found` with each occurrence's keyword index and span, in order of the occurrences'
    /// trigrams; stops early when it breaks.
    pub fn each(&self, hay: &[u8], mut found: impl FnMut(usize, Range<usize>) -> ControlFlow<()>) {
        let filter: &[u64; SLOTS / 64] = match self.filter.as_slice().try_into() {
            Ok(f) => f,
            Err(_) => return,
        };
        let passes = |h: usize| filter[h / 64] >> (h % 64) & 1;
        // Six trigrams from one 8-byte load, tested without a branch each: the filter passes
        // about one position in fifty, so one branch per six positions is rarely taken.
        let mut at = 0;
        while at + 8 <= hay.len() {
            let x = <[u8; 8]>::try_from(&hay[at..at + 8]).map_or(0, u64::from_le_bytes) | FOLD_64;
            let mut mask = 0u32;
            for k in 0..6 {
                mask |= (passes(hash_word((x >> (8 * k)) as u32)) as u32) << k;
            }
            while mask != 0 {
                let k = mask.trailing_zeros() as usize;
                mask &= mask - 1;
                let h = hash_word((x >> (8 * k)) as u32);
                if self.confirm(hay, at + k, h, &mut found).is_break() {
                    return;
                }
            }
            at += 6;
        }
        while at + 3 <= hay.len() {
            let h = trigram_hash(hay[at], hay[at + 1], hay[at + 2]);
            if passes(h) != 0 && self.confirm(hay, at, h, &mut found).is_break() {
                return;
            }
            at += 1;
        }
    }

    /// Compares the keywords whose trigram hashes to `h` with the text around `at`, where such a
    /// trigram may start.
    #[inline]
    fn confirm(
        &self,
        hay: &[u8],
        at: usize,
        h: usize,
        found: &mut impl FnMut(usize, Range<usize>) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        let word = self.filter[h / 64];
        let rank = self.rank_base[h / 64] as usize + (word & ((1u64 << (h % 64)) - 1)).count_ones() as usize;
        let from = self.rank_start[rank] as usize;
        let to = self.rank_start[rank + 1] as usize;
        for &(word, offset) in &self.entries[from..to] {
            let Some(start) = at.checked_sub(offset as usize) else { continue };
            let w = &self.words[word as usize];
            let span = start..start + w.len();
            if hay.get(span.clone()).is_some_and(|s| s.eq_ignore_ascii_case(w)) && found(word as usize, span).is_break()
            {
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    }

    /// Whether any keyword occurs in `hay`.
    pub fn any(&self, hay: &[u8]) -> bool {
        let mut seen = false;
        self.each(hay, |_, _| {
            seen = true;
            ControlFlow::Break(())
        });
        seen
    }
}

/// Setting bit 5 of every byte folds ASCII upper case onto lower case (and some punctuation onto
/// other punctuation, which costs a few more comparisons, never a miss).
const FOLD_64: u64 = 0x2020_2020_2020_2020;

#[inline(always)]
fn trigram_hash(a: u8, b: u8, c: u8) -> usize {
    hash_word(u32::from_le_bytes([a, b, c, 0]) | 0x0020_2020)
}

/// The slot of the trigram in the low three bytes of `x` (the top byte is ignored).
#[inline(always)]
fn hash_word(x: u32) -> usize {
    ((x << 8).wrapping_mul(0x9E37_79B1) >> (32 - HASH_BITS)) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use aho_corasick::AhoCorasickBuilder;

    fn all_hits(k: &Keywords, hay: &[u8]) -> Vec<(usize, usize)> {
        let mut v = Vec::new();
        k.each(hay, |w, span| {
            v.push((span.start, w));
            ControlFlow::Continue(())
        });
        v.sort();
        v.dedup();
        v
    }

    #[test]
    fn finds_every_occurrence_an_overlapping_search_finds() {
        let words = ["token", "TOKEN_", "oke", "aaaa", "abab", "sk-ant-", "ant", "xoxb-", "\"auth\"", "ÿþa", "key"];
        let k = Keywords::new(&words).unwrap();
        let ac = AhoCorasickBuilder::new().ascii_case_insensitive(true).build(words).unwrap();
        let mut next = crate::matcher::below(0x9E37_79B9_7F4A_7C15);
        for _ in 0..20_000 {
            let mut hay = Vec::new();
            for _ in 0..next(6) + 1 {
                let w = words[next(words.len())].as_bytes();
                let from = if next(3) == 0 { next(w.len()) } else { 0 };
                let piece: Vec<u8> =
                    w[from..].iter().map(|b| if next(2) == 0 { b.to_ascii_uppercase() } else { *b }).collect();
                hay.extend_from_slice(&piece);
            }
            let mut expected: Vec<(usize, usize)> =
                ac.find_overlapping_iter(&hay[..]).map(|m| (m.start(), m.pattern().as_usize())).collect();
            expected.sort();
            assert_eq!(all_hits(&k, &hay), expected, "{}", String::from_utf8_lossy(&hay));
        }
    }

    #[test]
    fn short_keywords_are_refused_and_empty_sets_find_nothing() {
        assert!(Keywords::new(&["ab"]).is_err());
        let none = Keywords::new::<&str>(&[]).unwrap();
        assert!(!none.any(b"token anything"));
        let k = Keywords::new(&["token"]).unwrap();
        assert!(k.any(b"a ToKeN b"));
        assert!(!k.any(b"toke"));
        assert!(!k.any(b""));
    }
}
