-- sentiment-udf SQL macros, built on the SQL functions (register those first).
-- Load: sentiment_udf.register(con, macros=True), or any `sentiment-udf query/shell` (always
-- loaded), or run this file on a connection that has the functions.
-- They are TEMP macros: they live on the connection that ran this file and never reach the
-- database file (a con.cursor() needs its own copy: run the file on it too).

-- A label from a score, with a custom threshold and an optional neutral band:
-- 'neutral' when |score - threshold| < neutral_band. NULL score gives NULL.
CREATE OR REPLACE TEMP MACRO sentiment_bucket(score, threshold := 0.5, neutral_band := 0.0) AS
    CASE
        WHEN score IS NULL THEN NULL
        WHEN abs(score - threshold) < neutral_band THEN 'neutral'
        WHEN score >= threshold THEN 'positive'
        ELSE 'negative'
    END;

-- The same, straight from the text: sentiment_label(review, threshold := 0.7, neutral_band := 0.1).
-- The model runs once per row (DuckDB evaluates the repeated sentiment_score(text) once).
CREATE OR REPLACE TEMP MACRO sentiment_label(text, threshold := 0.5, neutral_band := 0.0) AS
    sentiment_bucket(sentiment_score(text), threshold := threshold, neutral_band := neutral_band);

-- One row per label over a table: reviews, share of the scored rows, mean P(positive).
-- Blank or NULL texts form a NULL-label row of their own, counted but outside the shares.
-- A column that is not there fails with DuckDB's binder error, which names it and the columns.
--   SELECT * FROM sentiment_summary('reviews', 'review');
CREATE OR REPLACE TEMP MACRO sentiment_summary(table_name, text_column) AS TABLE
    WITH scored AS (
        SELECT sentiment(t) AS s FROM query(
            'SELECT "' || replace(text_column, '"', '""') || '" AS t FROM query_table('''
            || replace(table_name, '''', '''''') || ''')')
    )
    SELECT
        s.label AS label,
        count(*) AS reviews,
        CASE WHEN s.label IS NOT NULL THEN round(count(*) / sum(CASE WHEN s.label IS NOT NULL
            THEN count(*) END) OVER (), 4) END AS share,
        round(avg(s.score), 4) AS mean_score
    FROM scored
    GROUP BY s.label
    ORDER BY label NULLS LAST;
