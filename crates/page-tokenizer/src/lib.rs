//! Exact token counting for pagevm: a [`page_core::TokenCounter`] backed by OpenAI's BPE ranks.
//!
//! The ranks of `o200k_base` (GPT-4o and later; the default) and `cl100k_base` (GPT-4, and what
//! Zeph counts with) are compiled into the binary by `tiktoken-rs`, so counting needs neither
//! network nor files. This lives in its own crate because the rank tables make it slow to
//! build; `page-core` only defines the trait.
//!
//! Text is counted as ordinary text: a special-token string such as `<|endoftext|>` inside a
//! tool output costs what its characters cost and is never treated as a control token.
//!
//! ```
//! use page_core::TokenCounter;
//! use page_tokenizer::{BpeCounter, Encoding};
//!
//! let counter = BpeCounter::new(Encoding::Cl100kBase)?;
//! assert_eq!(counter.count("hello world").get(), 2);
//! assert_eq!(counter.encoding(), "cl100k_base");
//! # Ok::<(), page_tokenizer::TokenizerError>(())
//! ```

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use page_core::{TokenCount, TokenCounter};
use thiserror::Error;
use tiktoken_rs::CoreBPE;

/// A BPE encoding whose ranks are embedded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Encoding {
    /// `o200k_base`: GPT-4o, GPT-4.1, o-series. The default.
    #[default]
    O200kBase,
    /// `cl100k_base`: GPT-4, GPT-3.5; the encoding Zeph's token counter uses.
    Cl100kBase,
}

impl Encoding {
    /// Every supported encoding.
    pub const ALL: [Encoding; 2] = [Encoding::O200kBase, Encoding::Cl100kBase];

    /// The encoding's canonical name.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Encoding::O200kBase => "o200k_base",
            Encoding::Cl100kBase => "cl100k_base",
        }
    }
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Encoding {
    type Err = TokenizerError;

    fn from_str(s: &str) -> Result<Self, TokenizerError> {
        Encoding::ALL
            .into_iter()
            .find(|e| e.name() == s)
            .ok_or_else(|| TokenizerError::UnknownEncoding(s.to_owned()))
    }
}

/// Why a counter could not be built.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum TokenizerError {
    /// The name is not one of [`Encoding::ALL`].
    #[error("unknown encoding {0:?} (supported: o200k_base, cl100k_base)")]
    UnknownEncoding(String),
    /// The embedded ranks could not be loaded.
    #[error("loading the {encoding} ranks failed: {reason}")]
    LoadRanks {
        /// The encoding.
        encoding: Encoding,
        /// What failed.
        reason: String,
    },
}

/// Counts tokens exactly with a BPE encoding. Cheap to clone (the rank table is shared).
///
/// Building one parses the rank table (tens of milliseconds): build it once per process and
/// clone it.
#[derive(Clone)]
pub struct BpeCounter {
    encoding: Encoding,
    bpe: Arc<CoreBPE>,
}

impl BpeCounter {
    /// Loads the ranks of `encoding`.
    ///
    /// # Errors
    /// [`TokenizerError::LoadRanks`] if the embedded table does not parse (a broken build).
    pub fn new(encoding: Encoding) -> Result<Self, TokenizerError> {
        let bpe = match encoding {
            Encoding::O200kBase => tiktoken_rs::o200k_base(),
            Encoding::Cl100kBase => tiktoken_rs::cl100k_base(),
        }
        .map_err(|e| TokenizerError::LoadRanks {
            encoding,
            reason: e.to_string(),
        })?;
        Ok(Self {
            encoding,
            bpe: Arc::new(bpe),
        })
    }

    /// The encoding in use.
    #[must_use]
    pub const fn kind(&self) -> Encoding {
        self.encoding
    }
}

impl fmt::Debug for BpeCounter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BpeCounter({})", self.encoding)
    }
}

impl TokenCounter for BpeCounter {
    fn count(&self, text: &str) -> TokenCount {
        let n = self.bpe.encode_ordinary(text).len();
        TokenCount::new(u32::try_from(n).unwrap_or(u32::MAX))
    }

    fn encoding(&self) -> &str {
        self.encoding.name()
    }
}

/// The same counts as [`BpeCounter`], 2–3× faster, from the `bpe-openai` implementation
/// (linear-time BPE with a backtracking encoder over the same embedded ranks and
/// pre-tokenization patterns). For ingest paths that count megabytes of tool output; the
/// test suite checks it against [`BpeCounter`] on every recorded session and on arbitrary
/// text.
#[derive(Clone, Copy)]
pub struct FastBpeCounter {
    encoding: Encoding,
    tokenizer: &'static bpe_openai::Tokenizer,
}

impl FastBpeCounter {
    /// The counter for `encoding`. Its tables are built once per process, on first use.
    #[must_use]
    pub fn new(encoding: Encoding) -> Self {
        let tokenizer = match encoding {
            Encoding::O200kBase => bpe_openai::o200k_base(),
            Encoding::Cl100kBase => bpe_openai::cl100k_base(),
        };
        Self {
            encoding,
            tokenizer,
        }
    }
}

impl fmt::Debug for FastBpeCounter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FastBpeCounter({})", self.encoding)
    }
}

/// Pieces up to this many bytes are remembered: the words, identifiers, numbers, punctuation
/// and whitespace runs that make up most text and repeat across it.
const CACHED_PIECE_BYTES: usize = 32;
/// The most pieces a thread remembers per encoding; the cache starts over when full, so its
/// memory stays bounded (about 4 MiB per thread and encoding) whatever the input.
const CACHED_PIECES: usize = 1 << 16;

type PieceCache = std::collections::HashMap<Box<str>, usize, rustc_hash::FxBuildHasher>;

thread_local! {
    /// Token counts of pre-tokenizer pieces, one map per encoding. A piece's count is a pure
    /// function of its bytes (BPE runs on each piece alone), so a remembered count is exact.
    static PIECES: std::cell::RefCell<[PieceCache; 2]> = std::cell::RefCell::default();
}

impl FastBpeCounter {
    /// `bpe_openai::Tokenizer::count` (pre-tokenize, count each piece with BPE, sum) with the
    /// counts of short pieces remembered per thread.
    fn count_pieces(&self, text: &str) -> usize {
        let text = self.tokenizer.normalize(text);
        let bpe = &self.tokenizer.bpe;
        let slot = match self.encoding {
            Encoding::O200kBase => 0,
            Encoding::Cl100kBase => 1,
        };
        PIECES.with(|cache| {
            // Counting never re-enters itself, so the cache is always free; if it were not,
            // counting without it gives the same numbers.
            let Ok(mut cache) = cache.try_borrow_mut() else {
                return self.tokenizer.count(text.as_str());
            };
            let map = &mut cache[slot];
            self.tokenizer
                .split(text.as_str())
                .map(|piece| {
                    if piece.len() > CACHED_PIECE_BYTES {
                        return bpe.count(piece.as_bytes());
                    }
                    if let Some(&n) = map.get(piece) {
                        return n;
                    }
                    let n = bpe.count(piece.as_bytes());
                    if map.len() >= CACHED_PIECES {
                        map.clear();
                    }
                    map.insert(piece.into(), n);
                    n
                })
                .sum()
        })
    }
}

impl TokenCounter for FastBpeCounter {
    fn count(&self, text: &str) -> TokenCount {
        let n = self.count_pieces(text);
        TokenCount::new(u32::try_from(n).unwrap_or(u32::MAX))
    }

    fn encoding(&self) -> &str {
        self.encoding.name()
    }
}

/// The README's example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeExample;
