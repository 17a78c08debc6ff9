-- Top complaints, no list needed: the targets reviewers criticise most, found by the term
-- tagger (no aspect named first) and labelled by the aspect model. target_key groups "The
-- Batteries" with "battery". Expects a table or view `reviews(review_id, title, review, ...)`.
SELECT
    o.target_key,
    count(*) AS complaints,
    count(DISTINCT review_id) AS reviews,
    round(avg(o.score), 3) AS mean_score,
    any_value(o.target) AS as_written
FROM reviews, unnest(sentiment_opinions(review)) AS t(o)
WHERE o.label = 'negative'
GROUP BY o.target_key
ORDER BY complaints DESC, o.target_key
LIMIT 20;
