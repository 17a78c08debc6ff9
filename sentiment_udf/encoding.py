"""Text to token ids: title joining, blank detection, truncation and windows of max_length tokens."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from tokenizers import Tokenizer

from .errors import ModelError

# Characters kept before tokenizing in truncate mode, per token we keep; re-done on the whole
# text when the clipped text yields too few tokens, so this only saves time on huge texts.
CHARS_PER_TOKEN_CLIP = 16


def join_title(title: str | None, text: str | None) -> str | None:
    """The model's input for a review: `"<title>. <text>"`, or the text when the title is blank.

    A period is added to a title that does not end in '.', '!' or '?' (the training rule).
    """
    if text is None or not text.strip():
        return None
    if title is None or not title.strip():
        return text
    title = title.strip()
    if title[-1] not in ".!?":
        title += "."
    return f"{title} {text}"


def is_blank(text: str | None) -> bool:
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

    def has_tokens(self, sequence: list[int]) -> bool:
        """Whether a sequence from truncated() or windows() holds any text token."""
        return len(sequence) > len(self.prefix) + len(self.suffix)

    def _wrap(self, body: list[int]) -> list[int]:
        return self.prefix + body + self.suffix

    def truncated(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of each text, cut to max_length tokens including the special tokens."""
        limit = self.body_length * CHARS_PER_TOKEN_CLIP
        clipped = [_clip(text, limit) for text in texts]
        bodies = [e.ids for e in self.tokenizer.encode_batch(clipped, add_special_tokens=False)]
        for i, (text, cut) in enumerate(zip(texts, clipped)):
            if cut is not text and len(bodies[i]) < self.body_length:
                bodies[i] = self.tokenizer.encode(text, add_special_tokens=False).ids
        return [self._wrap(body[: self.body_length]) for body in bodies]

    def windows(self, texts: Sequence[str]) -> list[list[list[int]]]:
        """Each text as consecutive windows of at most max_length tokens (special tokens included)."""
        step = self.body_length
        out = []
        for encoding in self.tokenizer.encode_batch(list(texts), add_special_tokens=False):
            ids = encoding.ids
            out.append([self._wrap(ids[i : i + step]) for i in range(0, max(len(ids), 1), step)])
        return out


def _clip(text: str, limit: int) -> str:
    """`text` cut at the first whitespace after `limit` characters (the same object if shorter)."""
    if len(text) <= limit:
        return text
    cut = text.find(" ", limit)
    return text if cut < 0 else text[:cut]
