//! Telling the kernel's prompt from text that merely reads like it.
//!
//! The shell prints `PROMPT_MARK` right before its prompt: an SGR reset
//! (`ESC [ 0 m`), which a terminal shows as nothing. No command's output can
//! contain it, because the kernel's line editor never stores an ESC, so
//! `echo mosaic> ` or a `stress` report that quotes the prompt is not taken
//! for the prompt, and a piped session does not move on while a command
//! still runs. Output shown to a script or kept as a transcript has the
//! marks taken out again (`MarkFilter`).

/// The prompt as the user sees it (kernel/src/shell/mod.rs prints it).
pub const PROMPT: &str = "mosaic> ";
/// What the kernel sends just before the prompt.
pub const PROMPT_MARK: &str = "\x1b[0m";
/// The prompt as it comes over the serial line.
pub const WIRE_PROMPT: &str = "\x1b[0mmosaic> ";

/// Counts the kernel's prompts in a stream read in chunks of any size (a
/// prompt may be split across two reads).
#[derive(Default)]
pub struct PromptCounter {
    /// The end of the previous chunk, shorter than a prompt.
    tail: Vec<u8>,
}

impl PromptCounter {
    /// Prompts that end inside `chunk`.
    pub fn feed(&mut self, chunk: &[u8]) -> usize {
        let needle = WIRE_PROMPT.as_bytes();
        self.tail.extend_from_slice(chunk);
        let found = self.tail.windows(needle.len()).filter(|w| *w == needle).count();
        let keep = self.tail.len().min(needle.len() - 1);
        self.tail.drain(..self.tail.len() - keep);
        found
    }
}

/// Removes the prompt marks (and carriage returns, if asked) from a stream
/// read in chunks, holding back a chunk's end that may be the start of a
/// mark the next chunk completes.
pub struct MarkFilter {
    pending: Vec<u8>,
    drop_cr: bool,
}

impl MarkFilter {
    /// A filter that also drops carriage returns if `drop_cr`.
    pub fn new(drop_cr: bool) -> MarkFilter {
        MarkFilter { pending: Vec::new(), drop_cr }
    }

    /// The part of the stream so far that is certain, marks removed.
    pub fn filter(&mut self, chunk: &[u8]) -> Vec<u8> {
        let mark = PROMPT_MARK.as_bytes();
        self.pending.extend_from_slice(chunk);
        let mut out = Vec::with_capacity(self.pending.len());
        let mut i = 0;
        while i < self.pending.len() {
            let rest = &self.pending[i..];
            if rest.starts_with(mark) {
                i += mark.len();
            } else if rest.len() < mark.len() && mark.starts_with(rest) {
                break; // maybe a mark the next chunk completes
            } else {
                if !(self.drop_cr && rest[0] == b'\r') {
                    out.push(rest[0]);
                }
                i += 1;
            }
        }
        self.pending.drain(..i);
        out
    }

    /// What is still held back, once the stream has ended.
    pub fn finish(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.pending)
    }
}

/// `text` without prompt marks.
pub fn strip_marks(text: &str) -> String {
    text.replace(PROMPT_MARK, "")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A piece of a serial stream.
    #[derive(Clone, Debug)]
    enum Piece {
        /// The kernel's prompt.
        Prompt,
        /// Output that reads like the prompt: `echo mosaic> `, a report.
        Forged,
        /// Any output: bytes without ESC, which no command can print.
        Text(Vec<u8>),
    }

    fn piece() -> impl Strategy<Value = Piece> {
        prop_oneof![
            Just(Piece::Prompt),
            Just(Piece::Forged),
            prop::collection::vec(any::<u8>().prop_filter("no ESC", |&b| b != 0x1b), 0..20).prop_map(Piece::Text),
        ]
    }

    fn bytes_of(p: &Piece, wire: bool) -> Vec<u8> {
        match p {
            Piece::Prompt if wire => WIRE_PROMPT.as_bytes().to_vec(),
            Piece::Prompt | Piece::Forged => PROMPT.as_bytes().to_vec(),
            Piece::Text(t) => t.clone(),
        }
    }

    proptest! {
        #[test]
        fn only_the_kernels_prompts_count_and_marks_vanish(
            pieces in prop::collection::vec(piece(), 0..30),
            cuts in prop::collection::vec(1usize..12, 0..60),
        ) {
            let wire: Vec<u8> = pieces.iter().flat_map(|p| bytes_of(p, true)).collect();
            let shown: Vec<u8> = pieces.iter().flat_map(|p| bytes_of(p, false)).collect();
            let prompts = pieces.iter().filter(|p| matches!(p, Piece::Prompt)).count();
            let (counted, out) = feed_in_cuts(&wire, &cuts);
            prop_assert_eq!(counted, prompts);
            prop_assert_eq!(out, shown);
        }
    }

    /// A stream with ESC bytes anywhere: whole prompts, cut-off marks and
    /// prompts (`ESC [ 0` then text), and random bytes rich in `ESC [ 0 m`.
    fn noisy() -> impl Strategy<Value = Vec<u8>> {
        let wire = WIRE_PROMPT.as_bytes();
        let byte = prop_oneof![Just(0x1bu8), Just(b'['), Just(b'0'), Just(b'm'), any::<u8>()];
        prop::collection::vec(
            prop_oneof![
                Just(wire.to_vec()),
                (1..wire.len()).prop_map(move |n| wire[..n].to_vec()),
                prop::collection::vec(byte, 0..12),
            ],
            0..30,
        )
        .prop_map(|pieces| pieces.concat())
    }

    /// Feeds `stream` to a prompt counter and a mark filter in pieces of
    /// the lengths `cuts` gives (the rest in one piece): the prompts
    /// counted and the bytes let through.
    fn feed_in_cuts(stream: &[u8], cuts: &[usize]) -> (usize, Vec<u8>) {
        let (mut counter, mut filter) = (PromptCounter::default(), MarkFilter::new(false));
        let (mut counted, mut out, mut rest) = (0, Vec::new(), stream);
        for cut in cuts.iter().copied().chain(std::iter::repeat(usize::MAX)) {
            if rest.is_empty() {
                break;
            }
            let (chunk, after) = rest.split_at(cut.min(rest.len()));
            counted += counter.feed(chunk);
            out.extend(filter.filter(chunk));
            rest = after;
        }
        out.extend(filter.finish());
        (counted, out)
    }

    /// The stream with every mark removed, read in one go.
    fn without_marks(stream: &[u8]) -> Vec<u8> {
        let mark = PROMPT_MARK.as_bytes();
        let (mut out, mut i) = (Vec::new(), 0);
        while i < stream.len() {
            if stream[i..].starts_with(mark) {
                i += mark.len();
            } else {
                out.push(stream[i]);
                i += 1;
            }
        }
        out
    }

    proptest! {
        /// However the stream is cut, only whole wire prompts count and
        /// only whole marks vanish: a cut-off mark passes through as it is.
        #[test]
        fn escapes_and_broken_marks_are_read_as_in_one_go(
            stream in noisy(),
            cuts in prop::collection::vec(1usize..12, 0..60),
        ) {
            let needle = WIRE_PROMPT.as_bytes();
            let prompts = stream.windows(needle.len()).filter(|w| *w == needle).count();
            let (counted, out) = feed_in_cuts(&stream, &cuts);
            prop_assert_eq!(counted, prompts);
            prop_assert_eq!(out, without_marks(&stream));
        }
    }

    #[test]
    fn a_forged_prompt_is_not_a_prompt() {
        let mut counter = PromptCounter::default();
        assert_eq!(counter.feed(b"mosaic> \nstress: mosaic> \n"), 0);
        assert_eq!(counter.feed(b"done\n\x1b[0mmosa"), 0);
        assert_eq!(counter.feed(b"ic> "), 1);
    }

    #[test]
    fn carriage_returns_go_when_asked() {
        let mut filter = MarkFilter::new(true);
        assert_eq!(filter.filter(b"a\r\n\x1b[0"), b"a\n");
        assert_eq!(filter.filter(b"mmosaic> "), b"mosaic> ");
    }
}
