//! The pre-tokenizer of `o200k_base` and `cl100k_base`, run on a lazy DFA this crate owns.
//!
//! `bpe-openai` splits text with a `regex-automata` meta regex: every piece is a separate
//! search that takes a cache from the regex's pool (a lock-free stack for every thread but the
//! one that built it) and goes through the meta layer. Counting a megabyte makes a quarter of a
//! million such searches, and those layers cost more than the matching. Here one lazy DFA,
//! built from the same patterns, is searched directly with a cache taken once per text.
//!
//! The patterns are `bpe-openai`'s (0.3), which rewrites tiktoken's negative look-ahead
//! `\s+(?!\S)` as a pattern `\s+\s` whose match gives back its last character. The tests check
//! that the pieces equal `bpe-openai`'s own on arbitrary text and on every shipped session, so
//! a change of the upstream patterns fails the build's tests rather than a count.

use std::sync::{LazyLock, Mutex, PoisonError};

use regex_automata::hybrid::dfa::{Cache, DFA};
use regex_automata::{Anchored, Input};

use crate::Encoding;
use crate::chunked::Memo;

/// `bpe-openai`'s cl100k_base patterns; the second is a look-ahead pattern.
const CL100K: [&str; 3] = [
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+$",
    "\\s+\\s",
    "\\s+",
];

/// The alternatives of `bpe-openai`'s first o200k_base pattern, joined with `|`.
const O200K_FIRST: [&str; 6] = [
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
    "\\p{N}{1,3}",
    " ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*",
    "\\s*[\\r\\n]+",
    "\\s+$",
];

/// Which patterns give back their last character (see the module docs).
const LOOKAHEAD: [bool; 3] = [false, true, false];

/// A lazy DFA over an encoding's pre-token patterns, with a pool of scratch space.
pub(crate) struct Pretokenizer {
    dfa: DFA,
    scratch: Mutex<Vec<Scratch>>,
}

/// What counting one text works with, worth keeping between texts: the DFA's search cache
/// (its lazily built states) and the memo of piece counts (a piece's count depends only on its
/// bytes and the encoding, and each pretokenizer serves one encoding). The pool holds one per
/// thread that counted at the same time, about 2 MiB each at most.
pub(crate) struct Scratch {
    pub(crate) cache: Cache,
    pub(crate) memo: Memo,
}

static O200K_BASE: LazyLock<Option<Pretokenizer>> = LazyLock::new(|| {
    let first = O200K_FIRST.join("|");
    Pretokenizer::new(&[first.as_str(), "\\s+\\s", "\\s+"])
});

static CL100K_BASE: LazyLock<Option<Pretokenizer>> = LazyLock::new(|| Pretokenizer::new(&CL100K));

/// The pre-tokenizer of `encoding`, or `None` if its DFA could not be built (it always can;
/// callers then split with `bpe-openai`'s own regex, which gives the same pieces).
pub(crate) fn for_encoding(encoding: Encoding) -> Option<&'static Pretokenizer> {
    match encoding {
        Encoding::O200kBase => O200K_BASE.as_ref(),
        Encoding::Cl100kBase => CL100K_BASE.as_ref(),
    }
}

/// Where the pieces of a text stop being found by the DFA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    /// No pattern matches at this position: the text's pieces end here (as `bpe-openai`'s
    /// iterator ends on its first failed search).
    NoMatch,
    /// The DFA could not search from here (it never gives up as configured, but a search can
    /// in principle fail): the caller splits the rest another way.
    Failed,
}

impl Pretokenizer {
    fn new(patterns: &[&str]) -> Option<Self> {
        let dfa = DFA::new_many(patterns).ok()?;
        Some(Self {
            dfa,
            scratch: Mutex::new(Vec::new()),
        })
    }

    /// Scratch space: a pooled one or a new one.
    pub(crate) fn scratch(&self) -> Scratch {
        self.scratch
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
            .unwrap_or_else(|| Scratch {
                cache: self.dfa.create_cache(),
                memo: Memo::full(),
            })
    }

    /// Returns scratch space to the pool.
    pub(crate) fn put(&self, scratch: Scratch) {
        self.scratch
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(scratch);
    }

    /// Where the piece of `text` that starts at `start` (a piece boundary) ends.
    pub(crate) fn piece_end(
        &self,
        cache: &mut Cache,
        text: &str,
        start: usize,
    ) -> Result<usize, Stop> {
        let rest = text.get(start..).ok_or(Stop::Failed)?;
        let input = Input::new(rest).anchored(Anchored::Yes);
        let found = self
            .dfa
            .try_search_fwd(cache, &input)
            .map_err(|_| Stop::Failed)?
            .ok_or(Stop::NoMatch)?;
        let mut end = found.offset();
        if LOOKAHEAD
            .get(found.pattern().as_usize())
            .copied()
            .unwrap_or(false)
        {
            // Give back the look-ahead character.
            let last = rest
                .get(..end)
                .and_then(|m| m.chars().next_back())
                .map_or(0, char::len_utf8);
            end -= last;
        }
        if end == 0 {
            // Every pattern consumes a character; an empty piece would loop forever.
            return Err(Stop::Failed);
        }
        Ok(start + end)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn pieces(pre: &Pretokenizer, text: &str) -> Vec<String> {
        let mut scratch = pre.scratch();
        let mut out = Vec::new();
        let mut pos = 0;
        while let Ok(end) = pre.piece_end(&mut scratch.cache, text, pos) {
            out.push(text[pos..end].to_owned());
            pos = end;
        }
        pre.put(scratch);
        out
    }

    fn reference(encoding: Encoding, text: &str) -> Vec<String> {
        let tokenizer = match encoding {
            Encoding::O200kBase => bpe_openai::o200k_base(),
            Encoding::Cl100kBase => bpe_openai::cl100k_base(),
        };
        tokenizer.split(text).map(str::to_owned).collect()
    }

    fn same_pieces(text: &str) -> Result<(), TestCaseError> {
        for encoding in Encoding::ALL {
            let pre = for_encoding(encoding).ok_or_else(|| TestCaseError::fail("no DFA"))?;
            prop_assert_eq!(pieces(pre, text), reference(encoding, text), "{}", encoding);
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn pieces_equal_bpe_openai_on_arbitrary_text(text in "\\PC{0,200}") {
            same_pieces(&text)?;
        }

        #[test]
        fn pieces_equal_bpe_openai_on_tricky_text(
            text in "([ \\t\\r\\n/]|\\r\\n|'s|'LL|'Re|[0-9]{1,5}|[a-zA-Z]{1,6}|[äßÉжǅ]|e\u{301}|中文|🦀|[.,;:!?(){}<>\\[\\]_-]|\u{a0}|\u{2028}){0,80}"
        ) {
            same_pieces(&text)?;
        }
    }

    #[test]
    fn pieces_equal_bpe_openai_on_recorded_sessions() {
        let root =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/traces");
        let mut dirs = vec![root];
        let mut seen = 0;
        while let Some(dir) = dirs.pop() {
            for path in std::fs::read_dir(&dir)
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.path())
            {
                if path.is_dir() {
                    dirs.push(path);
                } else if let Ok(text) = std::fs::read_to_string(&path) {
                    assert!(same_pieces(&text).is_ok(), "{}", path.display());
                    seen += 1;
                }
            }
        }
        assert!(seen >= 10, "the fixture sessions are missing");
    }
}
