"""Text to token ids: title joining, blank detection, truncation and windows of max_length tokens.

Memory is bounded whatever the text: a text is tokenized from a clip of its first characters
(grown only while it is too short to fix the kept tokens, up to a hard cap), texts are tokenized
a group at a time, and chunk mode tokenizes a long text block by block.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from tokenizers import Encoding, Tokenizer

from ..errors import ModelError

# Characters first tried per kept token; re-tried 4x larger while the clip holds too few tokens.
CHARS_PER_TOKEN_CLIP = 16
# The most characters per kept token ever tokenized in truncate mode (about 520,000 for 512
# tokens): a text whose first 510 tokens span more is scored on that many first characters.
MAX_CHARS_PER_TOKEN = 1024
# How far past the clip point a whitespace is looked for before cutting mid-word.
WHITESPACE_LOOKAHEAD = 256
# Texts tokenized together: the tokenizer holds every encoding of a group at once.
ENCODE_GROUP = 64
# Chunk mode tokenizes a long text in blocks of about this many characters.
BLOCK_CHARS = 65_536
# A code point is at most 4 UTF-8 bytes, and no tokenizer makes a token of less than a byte.
MAX_TOKENS_PER_CHARACTER = 4
WORD_CHARACTER = re.compile(r"\w")
WHITESPACE = re.compile(r"\s")


def join_title(
    title: str | None, text: str | None, is_blank: Callable[[str | None], bool] | None = None
) -> str | None:
    """The model's input for a review: `"<title>. <text>"`, the text alone when the title is
    blank, None when the text is blank. `is_blank` decides what blank is (default: whitespace).

    A period is added to a title that does not end in '.', '!' or '?' (the training rule).
    """
    blank = is_blank or is_whitespace
    if text is None or blank(text):
        return None
    if title is None or blank(title):
        return text
    title = title.strip()
    if title[-1] not in ".!?":
        title += "."
    return f"{title} {text}"


def is_whitespace(text: str | None) -> bool:
    """None, empty or whitespace only."""
    return text is None or not text.strip()


class TextEncoder:
    """A Hugging Face `tokenizer.json`, used without its own truncation or padding settings."""

    def __init__(self, tokenizer_path: Path, max_length: int) -> None:
        try:
            self.tokenizer = Tokenizer.from_file(str(tokenizer_path))
        except Exception as exc:  # tokenizers raises a bare Exception on bad files
            raise ModelError(f"{tokenizer_path}: not a tokenizers file ({exc})") from None
        self.tokenizer.no_truncation()
        self.tokenizer.no_padding()
        self.prefix, self.suffix = self._special_ids()
        self.body_length = max_length - len(self.prefix) - len(self.suffix)
        if self.body_length < 1:
            raise ModelError(f"max_length={max_length} leaves no room for text tokens")
        self.max_length = max_length

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.get_vocab_size(with_added_tokens=True)

    def _special_ids(self) -> tuple[list[int], list[int]]:
        """The ids the post-processor puts before and after a text (`[CLS]` and `[SEP]` for BERT)."""
        probe = "good"
        plain = self.tokenizer.encode(probe, add_special_tokens=False).ids
        full = self.tokenizer.encode(probe).ids
        for start in range(len(full) - len(plain) + 1):
            if full[start : start + len(plain)] == plain:
                return full[:start], full[start + len(plain) :]
        return [], []

    @functools.cached_property
    def _pair_template(self) -> tuple[list[int], list[int], list[int]]:
        """The ids the post-processor puts before, between and after a pair of texts
        (`[CLS] a [SEP] b [SEP]` for BERT); probed once, on first use (one-text models never)."""
        first = self.tokenizer.encode("good", add_special_tokens=False).ids
        second = self.tokenizer.encode("bad", add_special_tokens=False).ids
        full = self.tokenizer.encode("good", "bad").ids
        for a in range(len(full)):
            if full[a : a + len(first)] == first:
                for b in range(a + len(first), len(full)):
                    if full[b : b + len(second)] == second:
                        return full[:a], full[a + len(first) : b], full[b + len(second) :]
        raise ModelError("the tokenizer has no template for a pair of texts")

    def pairs(
        self, firsts: Sequence[str], seconds: Sequence[str]
    ) -> tuple[list[list[int]], list[int]]:
        """Token ids of each pair, `[CLS] first [SEP] second [SEP]` within max_length, cutting the
        first text (never the second, unless it alone is too long); and where each second
        segment starts (its token type is 1)."""
        before, between, after = self._pair_template
        specials = len(before) + len(between) + len(after)
        seconds_ids = [
            e.ids for e in self.tokenizer.encode_batch(list(seconds), add_special_tokens=False)
        ]
        room = [max(self.max_length - specials - len(s), 1) for s in seconds_ids]
        firsts_ids = self._head_ids(firsts, max(room))
        sequences, starts = [], []
        for first, second, space in zip(firsts_ids, seconds_ids, room):
            second = second[: self.max_length - specials - 1]
            head = before + first[:space] + between
            sequences.append(head + second + after)
            starts.append(len(head))
        return sequences, starts

    def is_blank(self, text: str | None) -> bool:
        """The one rule for blank: no token after normalisation (None, whitespace, control
        characters only, ...). Texts with a letter or digit are not tokenized to decide."""
        if text is None or is_whitespace(text):
            return True
        if WORD_CHARACTER.search(text):
            return False
        step = self.body_length * CHARS_PER_TOKEN_CLIP
        return not any(
            self._encode(text[start : start + step]).ids for start in range(0, len(text), step)
        )

    def has_tokens(self, sequence: list[int]) -> bool:
        """Whether a sequence from truncated() or windows() holds any text token."""
        return len(sequence) > len(self.prefix) + len(self.suffix)

    def _wrap(self, body: list[int]) -> list[int]:
        return self.prefix + body + self.suffix

    def _encode(self, text: str) -> Encoding:
        return self.tokenizer.encode(text, add_special_tokens=False)

    def truncated(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of each text, cut to max_length tokens including the special tokens."""
        return [self._wrap(ids) for ids in self._head_ids(texts, self.body_length)]

    def _head_ids(self, texts: Sequence[str], body: int) -> list[list[int]]:
        """The first `body` token ids of each text (no special tokens), tokenizing only a clip of
        each text's head, a group of texts at a time."""
        limit = body * CHARS_PER_TOKEN_CLIP
        out: list[list[int]] = []
        for start in range(0, len(texts), ENCODE_GROUP):
            group = texts[start : start + ENCODE_GROUP]
            clipped = [clip(text, limit) for text in group]
            encodings = self.tokenizer.encode_batch(clipped, add_special_tokens=False)
            for text, cut, encoding in zip(group, clipped, encodings):
                if len(cut) < len(text) and not _fixes_kept_tokens(encoding, body):
                    encoding = self._encode_growing(text, limit * 4, body)
                out.append(encoding.ids[:body])
        return out

    def _encode_growing(self, text: str, limit: int, body: int) -> Encoding:
        cap = body * MAX_CHARS_PER_TOKEN
        while True:
            cut = clip(text, min(limit, cap))
            encoding = self._encode(cut)
            if len(cut) == len(text) or limit >= cap or _fixes_kept_tokens(encoding, body):
                return encoding
            limit *= 4

    def windows(self, texts: Sequence[str]) -> list[list[list[int]]]:
        """Each text as consecutive windows of at most max_length tokens (special tokens included)."""
        step = self.body_length
        out = []
        for start in range(0, len(texts), ENCODE_GROUP):
            group = texts[start : start + ENCODE_GROUP]
            short = [text if len(text) <= BLOCK_CHARS else "" for text in group]
            encodings = self.tokenizer.encode_batch(short, add_special_tokens=False)
            for text, encoding in zip(group, encodings):
                ids = encoding.ids if len(text) <= BLOCK_CHARS else self._ids_by_block(text)
                out.append(
                    [self._wrap(ids[i : i + step]) for i in range(0, max(len(ids), 1), step)]
                )
        return out

    def window_spans(self, text: str) -> list[tuple[int, int]]:
        """Character ranges (start, end) of `text` that hold at most body_length tokens each,
        consecutive, cut between words where a word allows: the whole text when it fits."""
        if len(text) * MAX_TOKENS_PER_CHARACTER <= self.body_length:
            return [(0, len(text))]  # too short to hold more tokens than fit: no need to look
        if len(self._head_ids([text], self.body_length + 1)[0]) <= self.body_length:
            return [(0, len(text))]
        # Tokens are read a block at a time and kept only until their window is cut, so memory
        # stays that of one block and one window whatever the text's length.
        pending: list[tuple[int, tuple[int, int | None]]] = []  # (start, word) of uncut tokens
        spans: list[tuple[int, int]] = []
        base = 0
        for number, block in enumerate(blocks(text, BLOCK_CHARS)):
            encoding = self._encode(block)
            words = zip(encoding.offsets, encoding.word_ids)
            pending += [(base + start, (number, word)) for (start, _), word in words]
            base += len(block)
            pending = self._cut_windows(pending, spans)
        if pending:
            spans.append((0 if not spans else pending[0][0], len(text)))
        return [(a, a + len(text[a:b].rstrip())) for a, b in spans if text[a:b].strip()]

    def _cut_windows(
        self, pending: list[tuple[int, tuple[int, int | None]]], spans: list[tuple[int, int]]
    ) -> list[tuple[int, tuple[int, int | None]]]:
        """Cut full windows off the head of `pending` into `spans` while a token follows them
        (a window ends before a word the next token continues); the tokens left uncut."""
        first = 0
        while len(pending) - first > self.body_length:
            cut = first + self.body_length
            while cut > first + 1 and pending[cut][1] == pending[cut - 1][1]:
                cut -= 1  # do not split a word across windows
            spans.append((0 if not spans else pending[first][0], pending[cut][0]))
            first = cut
        return pending[first:]

    def _ids_by_block(self, text: str) -> list[int]:
        ids: list[int] = []
        for block in blocks(text, BLOCK_CHARS):
            ids += self._encode(block).ids
        return ids


def _fixes_kept_tokens(encoding: Encoding, body: int) -> bool:
    """Whether a clipped text's encoding holds the whole text's first `body` tokens: it has more
    than that, and the last one kept is not part of the word the clip may have cut."""
    if len(encoding.ids) <= body:
        return False
    words = encoding.word_ids
    kept = words[body - 1]
    return kept is None or kept != words[-1]


def clip(text: str, limit: int) -> str:
    """`text` cut at the first whitespace at or after `limit` characters, or at `limit` itself
    when none comes within WHITESPACE_LOOKAHEAD characters (the text itself if it is shorter)."""
    if len(text) <= limit:
        return text
    found = WHITESPACE.search(text, limit, limit + WHITESPACE_LOOKAHEAD)
    return text[: found.start() if found else limit]


def blocks(text: str, size: int) -> Iterator[str]:
    """Consecutive pieces of `text` of about `size` characters, cut at whitespace where it can."""
    start = 0
    while start < len(text):
        piece = clip(text[start : start + size + WHITESPACE_LOOKAHEAD], size)
        yield piece
        start += len(piece)
