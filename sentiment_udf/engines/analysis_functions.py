"""sentiment_sentences, sentiment_overall, sentiment_aspects and sentiment_opinions on Arrow
arrays, engine-neutral: DuckDB and Spark register these beside the three scoring functions."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import numpy as np
import pyarrow as pa

from ..analysis.aspects import DEFAULT_CONTEXT, score_aspects
from ..analysis.opinions import find_opinions
from ..analysis.overall import (
    DEFAULT_NEUTRAL_BAND,
    check_band,
    expected_stars,
    middle_label,
    score_side,
    star_side,
)
from ..analysis.sentences import review_readers, score_sentences
from ..runtime.registry import load_stars_model, load_tagger, sentiment_reader
from ..runtime.term_tagger import TermTagger
from .arrow_functions import (
    ArrowFunction,
    CacheSource,
    ModelSource,
    model_inputs,
    no_cache,
    sql_type_name,
    text_values,
)
from .result_types import ASPECTS_TYPE, OPINIONS_TYPE, SENTENCES_TYPE

TaggerSource = Callable[[], TermTagger]


class AnalysisFunctions:
    """Builds the sentence, overall, star, aspect and opinion functions over `model()` (the
    review model), `aspect_model()` (a pair classifier), `tagger()` (the opinion-target
    extractor) and `stars_model()` (English reviews' star ratings), each called per vector like
    FunctionSet's."""

    def __init__(
        self,
        model: ModelSource,
        aspect_model: ModelSource,
        cast_hint: str = "cast it with ::VARCHAR",
        cache: CacheSource = no_cache,
        tagger: TaggerSource = load_tagger,
        stars_model: ModelSource = load_stars_model,
    ) -> None:
        self.model, self.aspect_model, self.cast_hint = model, aspect_model, cast_hint
        self.cache, self.tagger, self.stars_model = cache, tagger, stars_model

    def sentences(self, name: str) -> ArrowFunction:
        def sentiment_sentences(*args: pa.Array) -> pa.Array:
            if len(args) != 1:  # positions are in the text: a title would shift them
                raise TypeError(f"{name}() takes (text), not {len(args)} arguments")
            model = self.model()
            texts = model_inputs(model, args, name, self.cast_hint)
            scored = score_sentences(model, texts, self.cache())
            rows = [None if s is None else [vars(x) for x in s] for s in scored]
            return pa.array(rows, type=SENTENCES_TYPE)

        return sentiment_sentences

    def overall(self, name: str) -> ArrowFunction:
        def sentiment_overall(*args: pa.Array) -> pa.Array:
            titles, texts, bands = _overall_arguments(args, name, self.cast_hint)
            model = sentiment_reader(self.model())
            texts = [t if band is not None else None for t, band in zip(texts, bands)]
            readers = review_readers(model, texts)  # one language judgement per review
            inputs = model.inputs(titles, texts)
            kept = [i for i, r in enumerate(readers) if r is not None and inputs[i] is not None]
            for i in kept:
                check_band(bands[i] or 0.0)
            starred = self._star_probs(texts, inputs, kept)  # English reviews
            whole: dict[int, np.ndarray] = {}  # the others, read by their sentences' reader
            for reader in {id(r): r for r in readers if r is not None}.values():
                mine = [i for i in kept if readers[i] is reader and i not in starred]
                probs = reader.predict_proba([inputs[i] for i in mine], self.cache(), guard=False)
                whole.update(zip(mine, probs))
            labels: list[str | None] = [None] * len(texts)
            middle = []  # reviews the whole review leaves undecided: their sentences decide
            for i in kept:
                probs = starred[i] if i in starred else whole[i]
                if np.isnan(probs).any():
                    continue
                side = (
                    star_side(probs)
                    if i in starred
                    else score_side(float(probs[model.score_index]))
                )
                if side is None:
                    middle.append(i)
                labels[i] = side
            scored = score_sentences(
                model, [texts[i] for i in middle], self.cache(), [readers[i] for i in middle]
            )
            for i, sentences in zip(middle, scored):
                scores = [x.score for x in sentences or []]
                labels[i] = middle_label(scores, bands[i] or 0.0)
            return pa.array(labels, type=pa.string())

        return sentiment_overall

    def _star_probs(
        self, texts: list[str | None], inputs: list[str | None], kept: list[int]
    ) -> dict[int, np.ndarray]:
        """The star model's probabilities of the kept reviews it reads (English ones)."""
        stars = self.stars_model()
        readers = stars.readers([texts[i] or "" for i in kept])
        mine = [i for i, reader in zip(kept, readers) if reader is stars]
        probs = stars.predict_proba([inputs[i] for i in mine], self.cache(), guard=False)
        return dict(zip(mine, probs))

    def stars(self, name: str) -> ArrowFunction:
        def sentiment_stars(*args: pa.Array) -> pa.Array:
            stars = self.stars_model()
            texts = model_inputs(stars, args, name, self.cast_hint)
            probs = stars.predict_proba(texts, self.cache())  # other languages: NaN, NULL
            return pa.array([expected_stars(row) for row in probs], type=pa.float64())

        return sentiment_stars

    def aspects(self, name: str, context: str = DEFAULT_CONTEXT) -> ArrowFunction:
        def sentiment_aspects(*args: pa.Array) -> pa.Array:
            if len(args) != 2:
                raise TypeError(
                    f"{name}() takes (text, aspects VARCHAR[]), not {len(args)} arguments"
                )
            texts = text_values(args[0], name, self.cast_hint)
            kind = args[1].type
            if not (
                pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_null(kind)
            ):
                raise TypeError(
                    f"{name}(): argument 2 is {sql_type_name(args[1].type)}, not a list of "
                    "aspects; write ['battery', 'screen|display']"
                )
            scored = score_aspects(
                self.aspect_model(), texts, args[1].to_pylist(), context, self.cache()
            )
            rows = [
                None
                if results is None
                else [
                    {
                        **vars(r),
                        "evidence": [{"position": p, "length": n} for p, n in r.evidence],
                    }
                    for r in results
                ]
                for results in scored
            ]
            return pa.array(rows, type=ASPECTS_TYPE)

        return sentiment_aspects

    def opinions(self, name: str) -> ArrowFunction:
        def sentiment_opinions(*args: pa.Array) -> pa.Array:
            if len(args) != 1:  # positions are in the text: a title would shift them
                raise TypeError(f"{name}() takes (text), not {len(args)} arguments")
            texts = text_values(args[0], name, self.cast_hint)
            found = find_opinions(self.tagger(), self.aspect_model(), texts, self.cache())
            rows = [None if row is None else [vars(o) for o in row] for row in found]
            return pa.array(rows, type=OPINIONS_TYPE)

        return sentiment_opinions


def _overall_arguments(
    args: tuple[pa.Array, ...], name: str, cast_hint: str
) -> tuple[list[str | None] | None, list[str | None], list[float | None]]:
    """(titles, texts, neutral bands) of sentiment_overall's forms: (text), (text, band),
    (title, text) and (title, text, band); a second argument that is text is the text."""
    if len(args) not in (1, 2, 3):
        raise TypeError(
            f"{name}() takes (text), (title, text), (text, neutral_band) or "
            f"(title, text, neutral_band), not {len(args)} arguments"
        )
    titled = len(args) == 3 or (len(args) == 2 and _is_text(args[1].type))
    titles = text_values(args[0], name, cast_hint) if titled else None
    texts = text_values(args[1] if titled else args[0], name, cast_hint)
    band_args = args[2:] if titled else args[1:]
    bands = _bands(band_args[0], name) if band_args else [DEFAULT_NEUTRAL_BAND] * len(texts)
    return titles, texts, bands


def _is_text(kind: pa.DataType) -> bool:
    return pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_null(kind)


def _bands(array: pa.Array, name: str) -> list[float | None]:
    """The neutral band of each row (None where it is NULL); a value that is no number in
    [0, 0.5) is an error naming it, a text one saying to write a number."""
    if pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
        raise TypeError(
            f"{name}(): neutral_band is {sql_type_name(array.type)}; write a number such "
            "as 0.3, not a string"
        )
    bands: list[float | None] = []
    for value in array.to_pylist():
        if value is None:
            bands.append(None)
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
            raise TypeError(f"{name}(): neutral_band must be a number, not {value!r}")
        if not 0 <= value < 0.5:
            raise ValueError(f"{name}(): neutral_band must be a number in [0, 0.5), not {value}")
        bands.append(float(value))
    return bands
