-- Scores only the reviews not scored yet; scored_at shows when each row was scored.
{{ config(materialized='incremental', unique_key='review_id') }}

select
    review_id,
    classify_sentiment(title, review) as sentiment_label,
    now() as scored_at
from {{ ref('stg_reviews') }}
{% if is_incremental() %}
where review_id not in (select review_id from {{ this }})
{% endif %}
