-- Monthly sentiment trend, with the month-over-month change of the positive share.
-- Expects a table or view `reviews(review_id, title, review, category, review_date)`.
WITH monthly AS (
    SELECT
        date_trunc('month', review_date) AS month,
        count(*) AS reviews,
        avg((classify_sentiment(title, review) = 'positive')::INT) AS share_positive
    FROM reviews
    GROUP BY month
)
SELECT
    month,
    reviews,
    round(share_positive, 3) AS share_positive,
    round(share_positive - lag(share_positive) OVER (ORDER BY month), 3) AS change
FROM monthly
ORDER BY month;
