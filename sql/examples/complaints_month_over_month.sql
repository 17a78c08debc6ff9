-- What changed in complaints month over month: for each target criticised in a month, its
-- complaints that month and the month before, largest rises first. No aspect list needed.
-- Expects a table or view `reviews(review_id, title, review, category, review_date)`.
WITH complaints AS (
    SELECT date_trunc('month', review_date) AS month, o.target_key, count(*) AS complaints
    FROM reviews, unnest(sentiment_opinions(review)) AS t(o)
    WHERE o.label = 'negative'
    GROUP BY ALL
),
months AS (SELECT DISTINCT month FROM complaints),
grid AS (
    SELECT m.month, k.target_key, coalesce(c.complaints, 0) AS complaints
    FROM months m CROSS JOIN (SELECT DISTINCT target_key FROM complaints) k
    LEFT JOIN complaints c ON c.month = m.month AND c.target_key = k.target_key
)
SELECT
    month,
    target_key,
    complaints,
    lag(complaints) OVER (PARTITION BY target_key ORDER BY month) AS previous_month,
    complaints - lag(complaints) OVER (PARTITION BY target_key ORDER BY month) AS change
FROM grid
QUALIFY previous_month IS NOT NULL AND (complaints > 0 OR previous_month > 0)
ORDER BY month DESC, change DESC, target_key
LIMIT 30;
