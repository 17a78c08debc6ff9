-- Top complaints by aspect: for each aspect, how many reviews mention it, how many of those
-- are negative about it, and the mean aspect score (P(positive) - P(negative), -1 to 1).
-- Mentions are found by words (alternatives with |, plurals included), the aspect model labels
-- each one from its sentence. Expects a table or view `reviews(review_id, title, review, ...)`.
WITH aspects AS (
    SELECT review_id, unnest(sentiment_aspects(review, [
        'price|cost|value|money', 'quality', 'sound|audio|volume', 'battery|charge|charging',
        'story|plot|ending', 'characters|acting|actors', 'size|fit', 'instructions|manual'
    ])) AS a
    FROM reviews
)
SELECT
    a.aspect,
    count(*) FILTER (a.label <> 'unknown') AS reviews_mentioning,
    count(*) FILTER (a.label = 'negative') AS negative,
    count(*) FILTER (a.label = 'mixed') AS mixed,
    round(avg(a.score), 3) AS mean_score
FROM aspects
GROUP BY a.aspect
HAVING count(*) FILTER (a.label <> 'unknown') > 0
ORDER BY negative DESC, mean_score;
