{#- Attempted moves back down the funnel, logged and never applied: every `demote` signal
    (marts.lifecycle_stage_signals: a lost deal, a lead score decaying below the MQL threshold)
    that names a stage earlier than the one the profile was in at that moment. -#}
with lifecycle_stage_signals as {{ cte_not_materialized() }} (
    select * from {{ ref('lifecycle_stage_signals') }}
),

lifecycle_stage_history as {{ cte_not_materialized() }} (
    select * from {{ ref('lifecycle_stage_history') }}
),

lifecycle_stages as {{ cte_not_materialized() }} (
    select * from {{ ref('lifecycle_stages') }}
),

demotes as (
    select * from lifecycle_stage_signals where kind = 'demote'
),

stage_then as (
    select
        d.profile_id, d.signal_at, d.stage, d.stage_order, d.rule_id, d.source, d.source_key,
        max(h.stage_order) as stage_order_then
    from demotes as d
    inner join lifecycle_stage_history as h
        on h.profile_id = d.profile_id and h.entered_at <= d.signal_at and not h.was_skipped
    group by d.profile_id, d.signal_at, d.stage, d.stage_order, d.rule_id, d.source, d.source_key
),

final as (
    select
        t.profile_id,
        t.signal_at as attempted_at,
        t.stage as attempted_stage,
        s.stage as stage_at_the_time,
        t.rule_id,
        t.source,
        t.source_key,
        'not_applied' as outcome
    from stage_then as t
    inner join lifecycle_stages as s on s.stage_order = t.stage_order_then
    where t.stage_order < t.stage_order_then
)

select * from final
