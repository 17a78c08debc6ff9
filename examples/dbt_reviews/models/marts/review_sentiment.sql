-- Every review scored once: sentiment() returns label, score and probabilities together.
with scored as (
    select review_id, category, true_label, sentiment(title, review) as s
    from {{ ref('stg_reviews') }}
)
select
    review_id,
    category,
    true_label,
    s.label as sentiment_label,
    s.score as sentiment_score,
    sentiment_bucket(s.score, neutral_band := 0.25) as sentiment_band
from scored
