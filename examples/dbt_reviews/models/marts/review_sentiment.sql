-- Every review scored once: sentiment() returns label, score and probabilities together.
with scored as (
    select review_id, category, true_label, sentiment(title, review) as s,
           sentiment_overall(title, review) as overall
    from {{ ref('stg_reviews') }}
)
select
    review_id,
    category,
    true_label,
    s.label as sentiment_label,
    s.score as sentiment_score,
    sentiment_bucket(s.score, neutral_band := 0.25) as sentiment_band,
    overall as overall_label  -- positive, negative, neutral or mixed (README: the rule)
from scored
