{#- Invariant (blocking): every lead score is exactly the sum of its rows in
    marts.lead_score_breakdown, and every profile with breakdown rows has a score. -#}
{{ config(meta={'dagster': {'ref': {'name': 'lead_scores'}}}) }}
with sums as (
    select profile_id, sum(points) as points from {{ ref('lead_score_breakdown') }} group by profile_id
)
select coalesce(s.profile_id, l.profile_id) as profile_id, s.points, l.lead_score
from sums as s
full outer join {{ ref('lead_scores') }} as l on l.profile_id = s.profile_id
where s.points is null or l.lead_score is null or s.points <> l.lead_score
   or l.lead_score <> l.fit_score + l.engagement_score
