-- One row per review and aspect: what customers like or hate. Materialized as a table (the
-- functions live in the dbt process; a view would fail anywhere else).
{{ config(materialized='table') }}
with aspects as (
    select review_id, category, unnest(sentiment_aspects(review, [
        'price|cost|value|money', 'quality', 'sound|audio', 'battery|charge|charging',
        'story|plot|ending', 'characters|acting|actors'
    ])) as a
    from {{ ref('stg_reviews') }}
)
select review_id, category, a.aspect, a.label as aspect_label, a.score as aspect_score,
       a.mentions
from aspects
