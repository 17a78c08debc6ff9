-- Sentiment by product category: reviews, share positive, mean P(positive).
-- Expects a table or view `reviews(review_id, title, review, category, review_date)`.
-- sentiment() gives label and score from one model pass per review.
SELECT
    category,
    count(*) AS reviews,
    round(avg((s.label = 'positive')::INT), 3) AS share_positive,
    round(avg(s.score), 3) AS mean_score
FROM (SELECT category, sentiment(title, review) AS s FROM reviews)
GROUP BY category
ORDER BY share_positive;
