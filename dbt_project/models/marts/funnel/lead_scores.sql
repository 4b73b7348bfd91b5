{#- Every scored profile's lead score at the as-of moment: fit plus decayed engagement, the exact
    sum of its rows in marts.lead_score_breakdown, whether it is at or above
    var cdp__mql_score_threshold and when it first got there (marts.lead_score_history). -#}
{%- set threshold = var('cdp__mql_score_threshold') | float %}

with lead_score_breakdown as {{ cte_not_materialized() }} (
    select * from {{ ref('lead_score_breakdown') }}
),

lead_score_history as {{ cte_not_materialized() }} (
    select * from {{ ref('lead_score_history') }}
),

totals as (
    select
        profile_id,
        sum(case when category = 'fit' then points else 0 end) as fit_score,
        sum(case when category = 'engagement' then points else 0 end) as engagement_score,
        sum(points) as lead_score,
        count(*) as rules_matched,
        max(as_of) as as_of
    from lead_score_breakdown
    group by profile_id
),

crossings as (
    select profile_id, min(scored_at) as first_reached_threshold_at
    from lead_score_history
    where crosses_threshold
    group by profile_id
),

final as (
    select
        t.profile_id,
        cast(t.fit_score as decimal(38, 2)) as fit_score,
        cast(t.engagement_score as decimal(38, 2)) as engagement_score,
        cast(t.lead_score as decimal(38, 2)) as lead_score,
        t.lead_score >= {{ threshold }} as is_above_mql_threshold,
        cast({{ threshold }} as {{ type_double() }}) as mql_score_threshold,
        c.first_reached_threshold_at,
        t.rules_matched,
        t.as_of
    from totals as t
    left join crossings as c on c.profile_id = t.profile_id
)

select * from final
