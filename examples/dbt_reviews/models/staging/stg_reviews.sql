select
    review_id,
    nullif(trim(title), '') as title,
    text as review,
    domain as category,
    label as true_label
from {{ ref('raw_reviews') }}
