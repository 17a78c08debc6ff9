-- One row per opinion target the reviews mention, found without a list of aspects: the term
-- tagger finds the targets, the aspect model labels them. Group by target_key for the top
-- praised and criticised targets. Materialized as a table (the functions live in dbt).
{{ config(materialized='table') }}
with opinions as (
    select review_id, category, unnest(sentiment_opinions(review)) as o
    from {{ ref('stg_reviews') }}
)
select review_id, category, o.target, o.target_key, o.label as opinion_label,
       o.score as opinion_score, o.position, o.length
from opinions
