//! The page directory: per page below full, the specifics (paths, commands, identifiers) no
//! text of the prompt shows any more, so what a later turn cites stays resolvable by reading
//! the page back instead of silently gone. The one directory rule of every harness: the
//! engine renders it for [`crate::Assembly::directory`], the Zeph compactor into a message.
//!
//! A directory names things; it does not hold them. Measures of what a prompt holds read the
//! text outside it ([`is_directory`]): a use only the directory names is a page-in, not a hit.

use std::cmp::Reverse;
use std::collections::{HashMap, HashSet};

use page_core::Repr;

use crate::specifics::PageSpecifics;

/// First line of every page directory.
pub const DIRECTORY_HEADER: &str = "[page directory: page id: what it holds]";

/// Whether `text` is a page directory (it opens with [`DIRECTORY_HEADER`]).
#[must_use]
pub fn is_directory(text: &str) -> bool {
    text.starts_with(DIRECTORY_HEADER)
}

/// One page of a prompt, as the directory sees it.
#[derive(Debug, Clone, Copy)]
pub struct Listing<'a> {
    /// The page's id, as `read_page` takes it.
    pub page: &'a str,
    /// The level it is shown at; `None` when it is left out.
    pub level: Option<Repr>,
    /// The text it is shown with at that level (empty when left out).
    pub text: &'a str,
    /// What it can be cited by.
    pub specifics: &'a PageSpecifics,
}

/// One page's line: its id, then the specifics no shown text holds, key ones (paths, the
/// command) before identifiers.
#[derive(Debug)]
struct Line<'a> {
    page: &'a str,
    key: Vec<&'a str>,
    identifiers: Vec<&'a str>,
}

impl Line<'_> {
    fn specifics(&self) -> impl Iterator<Item = &str> {
        self.key.iter().chain(&self.identifiers).copied()
    }
}

/// The directory of one prompt, in page order.
#[derive(Debug)]
pub struct Directory<'a> {
    lines: Vec<Line<'a>>,
    /// How many pages of the prompt hold each specific (placed or not).
    held: HashMap<&'a str, usize>,
}

impl<'a> Directory<'a> {
    /// The directory of a prompt's pages; `None` when every specific of a page below full is
    /// shown by a page at full, by what renders with any placed page, or by its own text.
    #[must_use]
    pub fn of(pages: &[Listing<'a>]) -> Option<Self> {
        let mut shown: HashSet<&str> = HashSet::new();
        let mut held: HashMap<&str, usize> = HashMap::new();
        for p in pages {
            match p.level {
                Some(Repr::Full) => shown.extend(p.specifics.iter()),
                Some(_) => shown.extend(p.specifics.framed.iter().map(String::as_str)),
                None => {}
            }
            for s in p.specifics.iter() {
                *held.entry(s).or_default() += 1;
            }
        }
        let mut listed: HashSet<&str> = HashSet::new();
        let mut lines = Vec::new();
        for p in pages {
            if p.level == Some(Repr::Full) {
                continue;
            }
            let mut new = |specifics: &'a [String]| -> Vec<&'a str> {
                specifics
                    .iter()
                    .map(String::as_str)
                    .filter(|s| !shown.contains(s) && !p.text.contains(s) && listed.insert(s))
                    .collect()
            };
            let key = new(&p.specifics.key);
            let identifiers = new(&p.specifics.identifiers);
            if !key.is_empty() || !identifiers.is_empty() {
                lines.push(Line {
                    page: p.page,
                    key,
                    identifiers,
                });
            }
        }
        (!lines.is_empty()).then_some(Self { lines, held })
    }

    /// The whole directory's text.
    #[must_use]
    pub fn text(&self) -> String {
        self.render(|_, _| true)
    }

    /// The directory within `limit` tokens as `count` counts a text: the whole one when it
    /// fits, else as many specifics as fit, those a later turn most likely cites first (held
    /// by more pages, then on a newer page), with its count; `None` when not even one does.
    pub fn within(&self, limit: usize, count: impl Fn(&str) -> usize) -> Option<(String, usize)> {
        let whole = self.text();
        let n = count(&whole);
        if n <= limit {
            return Some((whole, n));
        }
        let mut order: Vec<(Reverse<usize>, Reverse<usize>, usize)> = Vec::new();
        for (l, line) in self.lines.iter().enumerate() {
            for (f, s) in line.specifics().enumerate() {
                let times = self.held.get(s).copied().unwrap_or(0);
                order.push((Reverse(times), Reverse(l), f));
            }
        }
        order.sort_unstable();
        // Greedy by summed counts: a specific follows a space, so its pieces never join its
        // neighbours'; a line's newline can join a punctuation end before it, so the sum may
        // overshoot by a token a line. The exact count of the result decides, dropping the
        // last chosen specific while it is over.
        let mut chosen: Vec<(usize, usize)> = Vec::new();
        let mut opened = vec![false; self.lines.len()];
        let mut estimate = count(DIRECTORY_HEADER);
        for (_, Reverse(l), f) in order {
            let line = &self.lines[l];
            let mut piece = String::new();
            push_specific(&mut piece, line.specifics().nth(f).unwrap_or_default());
            let mut cost = count(&piece);
            if !opened[l] {
                cost += count(&format!("\n{}:", line.page));
            }
            if estimate + cost <= limit {
                estimate += cost;
                opened[l] = true;
                chosen.push((l, f));
            }
        }
        while !chosen.is_empty() {
            let keep: HashSet<(usize, usize)> = chosen.iter().copied().collect();
            let text = self.render(|l, f| keep.contains(&(l, f)));
            let n = count(&text);
            if n <= limit {
                return Some((text, n));
            }
            chosen.pop();
        }
        None
    }

    /// Tokens of the whole directory summed line by line, so a counter that memoizes texts
    /// counts a line that did not change only once. At least the exact count but for a
    /// token a line (a header or specific ending in punctuation joins the newline after it).
    pub fn estimate(&self, count: impl Fn(&str) -> usize) -> usize {
        let mut text = String::new();
        let mut n = count(DIRECTORY_HEADER);
        for line in &self.lines {
            text.clear();
            push_line(&mut text, line.page, line.specifics());
            n += count(&text);
        }
        n
    }

    /// The text holding the specifics `keep` selects (by line and specific index).
    fn render(&self, keep: impl Fn(usize, usize) -> bool) -> String {
        let mut text = String::from(DIRECTORY_HEADER);
        for (l, line) in self.lines.iter().enumerate() {
            let mut kept = line
                .specifics()
                .enumerate()
                .filter(|(f, _)| keep(l, *f))
                .map(|(_, s)| s)
                .peekable();
            if kept.peek().is_none() {
                continue;
            }
            push_line(&mut text, line.page, kept);
        }
        text
    }
}

/// A specific as the directory writes it: a multi-line command stays on its page's line,
/// JSON-escaped as a tool call's own arguments are sent.
fn push_specific(text: &mut String, specific: &str) {
    text.push(' ');
    if specific.contains('\n') {
        text.push_str(&serde_json::Value::String(specific.to_owned()).to_string());
    } else {
        text.push_str(specific);
    }
}

/// One line of the directory: a newline, the page id, then its specifics.
fn push_line<'a>(text: &mut String, page: &str, specifics: impl Iterator<Item = &'a str>) {
    text.push('\n');
    text.push_str(page);
    text.push(':');
    for s in specifics {
        push_specific(text, s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn specifics(full: &str) -> PageSpecifics {
        PageSpecifics::of(full, None, "")
    }

    fn listing<'a>(page: &'a str, level: Option<Repr>, s: &'a PageSpecifics) -> Listing<'a> {
        Listing {
            page,
            level,
            text: "",
            specifics: s,
        }
    }

    /// Words count as tokens.
    fn words(text: &str) -> usize {
        text.split_whitespace().count()
    }

    #[test]
    fn a_page_below_full_is_listed_with_what_no_shown_text_holds() {
        let full = specifics("src/shared.rs:1 fn main\nsrc/a.rs:9 parse_args");
        let left_out = specifics("src/shared.rs:1\nsrc/b.rs:2 render_view");
        let pages = [
            listing("p1", Some(Repr::Full), &full),
            listing("p2", None, &left_out),
        ];
        let d = Directory::of(&pages).expect("p2 holds what nothing shows");
        assert_eq!(
            d.text(),
            format!("{DIRECTORY_HEADER}\np2: src/b.rs render_view")
        );
        // A page's own text shows what it holds: nothing left to list.
        let shown = Listing {
            text: "src/b.rs render_view",
            ..listing("p2", Some(Repr::Structured), &left_out)
        };
        assert!(Directory::of(&[pages[0], shown]).is_none());
    }

    #[test]
    fn a_directory_within_a_limit_fits_it_and_keeps_what_most_pages_hold() {
        let pages: Vec<PageSpecifics> = (0..4)
            .map(|k| specifics(&format!("src/shared.rs:1\nsrc/only_{k}.rs:9")))
            .collect();
        let ids: Vec<String> = (0..4).map(|k| format!("p{k}")).collect();
        let listings: Vec<Listing<'_>> = ids
            .iter()
            .zip(&pages)
            .map(|(id, s)| listing(id, Some(Repr::Pointer), s))
            .collect();
        let d = Directory::of(&listings).expect("nothing is shown");
        let whole = d.text();
        assert_eq!(
            d.within(words(&whole), words),
            Some((whole.clone(), words(&whole)))
        );
        // The smallest directory that says anything: the specific every page holds, listed
        // once, on the first page that holds it.
        let header = words(DIRECTORY_HEADER);
        let smallest = format!("{DIRECTORY_HEADER}\np0: src/shared.rs");
        assert_eq!(
            d.within(header + 2, words),
            Some((smallest.clone(), words(&smallest)))
        );
        assert_eq!(d.within(header, words), None);
        assert!(d.estimate(words) >= words(&whole));
    }
}
