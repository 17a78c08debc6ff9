-- Sentiment by product category: reviews, share positive, mean P(positive).
-- Expects a table or view `reviews(review_id, title, review, category, review_date)`.
SELECT
    category,
    count(*) AS reviews,
    round(avg((classify_sentiment(title, review) = 'positive')::INT), 3) AS share_positive,
    round(avg(sentiment_score(title, review)), 3) AS mean_score
FROM reviews
GROUP BY category
ORDER BY share_positive;
