-- Label counts with a neutral band (macros.sql), and the per-label summary table macro.
-- Expects a table or view `reviews(review_id, title, review, category, review_date)`.
SELECT
    sentiment_label(review, threshold := 0.5, neutral_band := 0.3) AS sentiment,
    count(*) AS reviews
FROM reviews
GROUP BY ALL
ORDER BY sentiment;

SELECT * FROM sentiment_summary('reviews', 'review');
