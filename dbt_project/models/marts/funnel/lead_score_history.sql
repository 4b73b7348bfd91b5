{#- How every lead score moved: one row per profile and moment its score changed by a step (its
    engagement events, grouped when simultaneous, and the moment its traits were first seen, when
    fit is added), from intermediate.int_scoring__score_steps (rebuilt per profile, where the decay is
    reckoned). A step that takes the score from below var cdp__mql_score_threshold to at or above it
    `crosses_threshold` (the lifecycle rule `lead_score` reads the first one); falls_below_threshold_at
    says when a score at or above the threshold went below it, at this step or by decay before the
    next one or the as-of moment (rule `lead_score_below`): the one column here the as-of moment
    decides. -#}
with int_scoring__score_steps as {{ cte_not_materialized() }} (
    select * from {{ ref('int_scoring__score_steps') }}
),

as_of as (
    select {{ cdp_as_of() }} as as_of
),

final as (
    select
        s.profile_id,
        s.scored_at,
        s.rule_ids,
        s.engagement_points_added,
        s.fit_score,
        s.engagement_score,
        s.lead_score,
        s.lead_score_before,
        s.crosses_threshold,
        case when s.falls_at_step then s.scored_at
             when s.decay_below_at < coalesce(s.next_scored_at, a.as_of)
                  or (s.next_scored_at is null and s.decay_below_at <= a.as_of)
                  then s.decay_below_at end as falls_below_threshold_at,
        s.mql_score_threshold
    from int_scoring__score_steps as s
    cross join as_of as a
)

select * from final
