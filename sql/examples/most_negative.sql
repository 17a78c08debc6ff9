-- The ten most negative reviews, with their scores: where to look first.
-- Expects a table or view `reviews(review_id, title, review, category, review_date)`.
SELECT
    review_id,
    category,
    round(sentiment_score(title, review), 4) AS score,
    left(review, 80) AS review_start
FROM reviews
WHERE review IS NOT NULL
ORDER BY score ASC
LIMIT 10;
