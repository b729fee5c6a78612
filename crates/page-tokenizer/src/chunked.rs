//! Exact counting of long texts with `bpe-openai`: pieces counted once per distinct piece, and
//! texts of several hundred kilobytes split into chunks counted on separate threads.
//!
//! Chunking keeps counts exact without proving anything about the pre-tokenizer regexes. A
//! chunk's worker pre-tokenizes the *whole rest* of the text from its start (the regex only
//! ever sees the text from the current position on, so pieces after a true piece boundary do
//! not depend on what precedes it), and stops at the first piece that ends at or after the next
//! chunk's start. The results are then joined from the front: a chunk's count is used only when
//! the walk lands exactly on its start, which makes that start a true boundary of the whole
//! text's pre-tokenization. When a piece straddles a chosen start, the walk counts on from where
//! that piece ends on the calling thread instead. Split points are picked after a newline that
//! no piece of o200k_base or cl100k_base continues across, so the slow path is rare, but it is
//! never wrong.

use std::num::NonZeroUsize;

use bpe_openai::Tokenizer;

use crate::pretoken::{Pretokenizer, Stop};

/// Smallest chunk worth a thread: spawning one costs tens of microseconds, counting 64 KiB
/// a couple of milliseconds.
const MIN_CHUNK_BYTES: usize = 64 * 1024;

/// Most threads one count uses.
const MAX_WORKERS: usize = 4;

/// How many threads to count a text of `len` bytes with.
pub(crate) fn workers(len: usize) -> usize {
    if len < 2 * MIN_CHUNK_BYTES {
        return 1;
    }
    let cores = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
    cores.min(MAX_WORKERS).min(len / MIN_CHUNK_BYTES).max(1)
}

/// The number of tokens `tokenizer` encodes `text` into, counted with up to `workers` threads.
/// Always equal to `tokenizer.count(text)`.
///
/// `pre` splits the text into pieces as the tokenizer's own pre-tokenizer does, faster; without
/// it the tokenizer's own splits.
pub(crate) fn count(
    tokenizer: &Tokenizer,
    pre: Option<&Pretokenizer>,
    text: &str,
    workers: usize,
) -> usize {
    let text = tokenizer.normalize(text);
    let text = text.as_str();
    let counter = Counter { tokenizer, pre };
    if workers <= 1 {
        return counter.span(text, 0, text.len()).tokens;
    }
    counter.count_from_starts(text, &split_points(text, workers))
}

/// What counts one stretch of text.
#[derive(Clone, Copy)]
struct Counter<'t> {
    tokenizer: &'t Tokenizer,
    pre: Option<&'t Pretokenizer>,
}

/// Chunk starts for `workers` chunks of about equal size: 0, then for each further chunk the
/// first position at or after its share that follows a `\n` and holds neither whitespace nor
/// `/` (no pre-token pattern of either encoding continues a newline with anything else).
/// Strictly increasing; fewer than `workers` entries when the text has too few such lines.
fn split_points(text: &str, workers: usize) -> Vec<usize> {
    let bytes = text.as_bytes();
    let mut starts = vec![0];
    for i in 1..workers {
        let from = (text.len() / workers * i).max(starts.last().map_or(0, |s| s + 1));
        let found = bytes
            .get(from..)
            .unwrap_or_default()
            .windows(2)
            .position(|w| w[0] == b'\n' && !w[1].is_ascii_whitespace() && w[1] != b'/');
        match found {
            // `\n` is one byte and never inside a multi-byte character, so the start is a
            // character boundary.
            Some(at) => starts.push(from + at + 1),
            None => break,
        }
    }
    starts
}

impl Counter<'_> {
    /// Counts `text` as chunks starting at `starts` (strictly increasing character boundaries,
    /// the first 0), one thread per chunk after the first, and joins the results exactly.
    fn count_from_starts(self, text: &str, starts: &[usize]) -> usize {
        let stop_after = |i: usize| starts.get(i + 1).copied().unwrap_or(text.len());
        let spans: Vec<Span> = std::thread::scope(|scope| {
            let handles: Vec<_> = (1..starts.len())
                .map(|i| {
                    let work = move || self.span(text, starts[i], stop_after(i));
                    // A thread the system refuses is counted here instead.
                    std::thread::Builder::new()
                        .spawn_scoped(scope, work)
                        .map_err(|_| i)
                })
                .collect();
            let mut spans = Vec::with_capacity(starts.len());
            spans.push(self.span(text, 0, stop_after(0)));
            for handle in handles {
                match handle {
                    Ok(h) => match h.join() {
                        Ok(s) => spans.push(s),
                        // A worker can only panic where counting on this thread would have.
                        Err(panic) => std::panic::resume_unwind(panic),
                    },
                    Err(i) => spans.push(self.span(text, starts[i], stop_after(i))),
                }
            }
            spans
        });
        let mut total = 0;
        let mut pos = 0;
        while pos < text.len() {
            let next = match starts.binary_search(&pos) {
                Ok(i) => spans[i],
                // `pos` ends a piece that straddled a chunk start: count on to the next start.
                Err(i) => self.span(text, pos, starts.get(i).copied().unwrap_or(text.len())),
            };
            total += next.tokens;
            if next.exhausted {
                break;
            }
            pos = next.end;
        }
        total
    }

    /// Counts the pieces of `text[from..]` (`from` a piece boundary) up to and including the
    /// first that ends at or after `stop`.
    fn span(self, text: &str, from: usize, stop: usize) -> Span {
        let Some(pre) = self.pre else {
            let mut memo = Memo::for_text(stop.saturating_sub(from));
            return self.split_rest(&mut memo, text, from, stop, 0);
        };
        let mut scratch = pre.scratch();
        let mut tokens = 0;
        let mut end = from;
        let span = loop {
            let piece = pre
                .piece_end(&mut scratch.cache, text, end)
                .and_then(|e| text.get(end..e).map(|p| (e, p)).ok_or(Stop::Failed));
            match piece {
                Ok((e, piece)) => {
                    tokens += scratch.memo.count(self.tokenizer, piece);
                    end = e;
                    if end >= stop {
                        break Span {
                            tokens,
                            end,
                            exhausted: end >= text.len(),
                        };
                    }
                }
                Err(Stop::NoMatch) => {
                    break Span {
                        tokens,
                        end,
                        exhausted: true,
                    };
                }
                // `end` is a piece boundary: the tokenizer's own splits carry on from it.
                Err(Stop::Failed) => {
                    break self.split_rest(&mut scratch.memo, text, end, stop, tokens);
                }
            }
        };
        pre.put(scratch);
        span
    }

    /// [`Self::span`] from `end` on with the tokenizer's own splits, `tokens` already counted.
    fn split_rest(
        self,
        memo: &mut Memo,
        text: &str,
        mut end: usize,
        stop: usize,
        mut tokens: usize,
    ) -> Span {
        for piece in self.tokenizer.split(&text[end..]) {
            tokens += memo.count(self.tokenizer, piece);
            end += piece.len();
            if end >= stop {
                return Span {
                    tokens,
                    end,
                    exhausted: end >= text.len(),
                };
            }
        }
        Span {
            tokens,
            end,
            exhausted: true,
        }
    }
}

/// The pieces of one stretch of text.
#[derive(Debug, Clone, Copy)]
struct Span {
    /// Tokens of the pieces counted.
    tokens: usize,
    /// Where the last piece counted ends.
    end: usize,
    /// The pre-tokenizer found no further piece before `stop` (the end of the text, or text
    /// no pattern matches, where counting the whole text stops too).
    exhausted: bool,
}

/// Token counts of short pieces already seen. Tool output repeats the same words, paths and
/// punctuation runs, and counting a piece sets up an encoder (two allocations) even when the
/// piece is a single token. A piece's count depends on its bytes alone, so reusing it is exact.
///
/// A direct-mapped cache: each piece has one slot, chosen by a hash of its bytes; a hit needs
/// the whole key to match (length and bytes), a miss overwrites the slot. Keys are the piece's
/// bytes packed into words, so a lookup is a few integer compares, no `memcmp` and no
/// allocation.
pub(crate) struct Memo {
    slots: Vec<Slot>,
}

#[derive(Clone, Copy, Default)]
struct Slot {
    /// The piece's bytes, zero-padded; `len == 0` marks an empty slot (pieces are never empty).
    words: [u64; MEMO_WORDS],
    len: u8,
    tokens: u32,
}

/// Longest piece whose count is remembered, in 8-byte words; longer pieces (long runs of one
/// character class) rarely repeat.
const MEMO_WORDS: usize = 3;

/// Most slots per memo (4096 × 32 bytes). A pooled memo has them all; a memo for one text
/// (without a pretokenizer, whose pool keeps memos) one slot per 32 bytes of text, and none
/// under 1 KiB (the setup would cost more than it saves).
const MEMO_MAX_SLOTS_LOG2: u32 = 12;

impl Memo {
    /// A memo of the largest size, kept in a pool between texts.
    pub(crate) fn full() -> Self {
        Self {
            slots: vec![Slot::default(); 1 << MEMO_MAX_SLOTS_LOG2],
        }
    }

    /// A memo sized for `len` bytes of text.
    fn for_text(len: usize) -> Self {
        let slots = if len < 1024 {
            0
        } else {
            (len / 32).next_power_of_two().min(1 << MEMO_MAX_SLOTS_LOG2)
        };
        Self {
            slots: vec![Slot::default(); slots],
        }
    }

    fn count(&mut self, tokenizer: &Tokenizer, piece: &str) -> usize {
        let bytes = piece.as_bytes();
        let (Ok(len), true) = (u8::try_from(bytes.len()), bytes.len() <= MEMO_WORDS * 8) else {
            return tokenizer.bpe.count(bytes);
        };
        if self.slots.is_empty() {
            return tokenizer.bpe.count(bytes);
        }
        let mut words = [0u64; MEMO_WORDS];
        let mut hash = u64::from(len);
        for (word, chunk) in words.iter_mut().zip(bytes.chunks(8)) {
            // Whole words load directly; a short tail byte by byte (a variable-length copy
            // would be a `memcpy` call per piece).
            *word = match <[u8; 8]>::try_from(chunk) {
                Ok(w) => u64::from_le_bytes(w),
                Err(_) => chunk
                    .iter()
                    .rev()
                    .fold(0u64, |w, &b| (w << 8) | u64::from(b)),
            };
            // The multiply-rotate step of FxHash (rustc's hasher).
            hash = (hash.rotate_left(5) ^ *word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
        // The high bits are the best mixed; `slots` is a power of two.
        let bits = self.slots.len().trailing_zeros();
        let index = usize::try_from(hash.checked_shr(64 - bits).unwrap_or(0)).unwrap_or(0);
        let Some(slot) = self.slots.get_mut(index) else {
            return tokenizer.bpe.count(bytes);
        };
        if slot.len == len && slot.words == words {
            return slot.tokens as usize;
        }
        let n = tokenizer.bpe.count(bytes);
        if let Ok(tokens) = u32::try_from(n) {
            *slot = Slot { words, len, tokens };
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Both encodings, each splitting with this crate's DFA and with `bpe-openai`'s regex.
    fn counters() -> Vec<Counter<'static>> {
        let mut out = Vec::new();
        for (tokenizer, encoding) in [
            (bpe_openai::o200k_base(), crate::Encoding::O200kBase),
            (bpe_openai::cl100k_base(), crate::Encoding::Cl100kBase),
        ] {
            let pre = crate::pretoken::for_encoding(encoding);
            assert!(pre.is_some(), "{encoding}: the DFA builds");
            out.push(Counter { tokenizer, pre });
            out.push(Counter {
                tokenizer,
                pre: None,
            });
        }
        out
    }

    /// Snaps arbitrary offsets to sorted, distinct character boundaries after 0.
    fn starts_at(text: &str, offsets: &[usize]) -> Vec<usize> {
        let mut starts = vec![0];
        let mut cuts: Vec<usize> = offsets
            .iter()
            .filter_map(|&o| {
                let o = o % (text.len() + 1);
                (o..=text.len()).find(|&i| text.is_char_boundary(i))
            })
            .filter(|&o| o > 0 && o < text.len())
            .collect();
        cuts.sort_unstable();
        cuts.dedup();
        starts.extend(cuts);
        starts
    }

    // Whitespace runs, CRLF, newlines before `/` and spaces, digits, contractions, letters of
    // several scripts and combining marks: what the pre-token patterns treat specially.
    const TRICKY: &str = "(?s)([ \\t\\r\\n/]|\\r\\n|'s|'LL|[0-9]{1,5}|[a-zA-Z]{1,6}|[äßÉж]|e\u{301}|中文|🦀|[.,;:!?(){}<>\\[\\]_-]){0,120}";

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn chunks_at_any_positions_count_like_the_whole(
            text in TRICKY,
            offsets in proptest::collection::vec(any::<usize>(), 0..6),
        ) {
            let starts = starts_at(&text, &offsets);
            for c in counters() {
                prop_assert_eq!(
                    c.count_from_starts(&text, &starts),
                    c.tokenizer.count(text.as_str()),
                    "starts {:?}", starts
                );
            }
        }

        #[test]
        fn chunks_of_arbitrary_unicode_count_like_the_whole(
            text in "\\PC{0,200}",
            offsets in proptest::collection::vec(any::<usize>(), 0..6),
        ) {
            let starts = starts_at(&text, &offsets);
            for c in counters() {
                prop_assert_eq!(
                    c.count_from_starts(&text, &starts),
                    c.tokenizer.count(text.as_str())
                );
            }
        }

        /// Texts long enough for the memo, whose pieces repeat (and collide in its slots).
        #[test]
        fn long_repetitive_texts_count_like_the_whole(
            parts in proptest::collection::vec(TRICKY, 1..8),
            repeats in 1usize..40,
            workers in 1usize..4,
        ) {
            let text = parts.concat().repeat(repeats);
            for c in counters() {
                prop_assert_eq!(count(c.tokenizer, c.pre, &text, workers), c.tokenizer.count(text.as_str()));
            }
        }

        #[test]
        fn chosen_split_points_count_like_the_whole(text in TRICKY, workers in 1usize..6) {
            let starts = split_points(&text, workers);
            prop_assert!(starts.windows(2).all(|w| w[0] < w[1]));
            for c in counters() {
                prop_assert_eq!(
                    count(c.tokenizer, c.pre, &text, workers),
                    c.tokenizer.count(text.as_str())
                );
            }
        }
    }

    /// Chosen split points are true piece boundaries on log-like text, so the fast path (no
    /// recount) is the one taken.
    #[test]
    fn chosen_split_points_are_piece_boundaries() {
        let mut text = String::new();
        for i in 0..4000 {
            text.push_str(&format!(
                "test case_{i} ... ok\n  --> src/lib.rs:{i}:5\n\n/tmp/x {i}\r\n{{ \"k\": {i} }}\n"
            ));
        }
        for c in counters() {
            let mut boundaries = std::collections::BTreeSet::new();
            let mut end = 0;
            for piece in c.tokenizer.split(&text) {
                end += piece.len();
                boundaries.insert(end);
            }
            let starts = split_points(&text, 4);
            assert_eq!(starts.len(), 4);
            for s in &starts[1..] {
                assert!(boundaries.contains(s), "split at {s} is inside a piece");
            }
            assert_eq!(
                count(c.tokenizer, c.pre, &text, 4),
                c.tokenizer.count(text.as_str())
            );
        }
    }

    #[test]
    fn workers_only_for_long_texts() {
        assert_eq!(workers(0), 1);
        assert_eq!(workers(2 * MIN_CHUNK_BYTES - 1), 1);
        assert!(workers(100 * MIN_CHUNK_BYTES) <= MAX_WORKERS);
    }

    /// Every shipped session, whole (as the engine would count a long tool output) and cut
    /// every 997 bytes and at the chosen split points, counts the same in chunks.
    #[test]
    fn recorded_sessions_count_alike_in_chunks() {
        let root =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/traces");
        let mut dirs = vec![root];
        let mut texts = Vec::new();
        while let Some(dir) = dirs.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for path in entries.flatten().map(|e| e.path()) {
                if path.is_dir() {
                    dirs.push(path);
                } else if let Ok(text) = std::fs::read_to_string(&path) {
                    texts.push(text);
                }
            }
        }
        assert!(texts.len() >= 10, "the fixture sessions are missing");
        let all = texts.concat();
        texts.push(all);
        for text in &texts {
            let every: Vec<usize> = (1..text.len() / 997 + 1).map(|k| k * 997).collect();
            let cut = starts_at(text, &every);
            for c in counters() {
                let whole = c.tokenizer.count(text.as_str());
                assert_eq!(c.count_from_starts(text, &cut), whole);
                assert_eq!(count(c.tokenizer, c.pre, text, 4), whole);
            }
        }
    }
}
