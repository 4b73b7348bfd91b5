{#- Forward-only lifecycle history: one row per stage of seeds/lifecycle_stages.csv a profile has
    reached. A profile's stage is the highest stage any `advance` signal (marts.lifecycle_stage_signals)
    has put it in so far, so it never moves back; a stage passed over on the way (a buyer who was
    never an MQL) gets a row with was_skipped = true, entered and left at the moment of the jump.
    Each entered row names the rule and source record that caused it. -#}
/* depends_on: {{ ref('int_profiles__as_of') }} */
with lifecycle_stage_signals as {{ cte_not_materialized() }} (
    select * from {{ ref('lifecycle_stage_signals') }}
),

lifecycle_stages as {{ cte_not_materialized() }} (
    select * from {{ ref('lifecycle_stages') }}
),

advances as (
    select *
    from lifecycle_stage_signals
    where kind = 'advance'
),

ordered as (
    select
        *,
        max(stage_order) over (
            partition by profile_id order by signal_at, stage_order, rule_id, source_key
            rows between unbounded preceding and 1 preceding
        ) as previous_stage_order
    from advances
),

entries as (
    select
        *,
        lead(signal_at) over (partition by profile_id order by stage_order) as next_entered_at,
        max(stage_order) over (partition by profile_id) as current_stage_order
    from ordered
    where stage_order > coalesce(previous_stage_order, -1e18)
),

stages as (
    select stage, stage_order from lifecycle_stages
),

final as (
    select
        e.profile_id,
        s.stage,
        s.stage_order,
        e.signal_at as entered_at,
        case when s.stage_order < e.stage_order then e.signal_at else e.next_entered_at end as exited_at,
        s.stage_order < e.stage_order as was_skipped,
        cast(case when s.stage_order < e.stage_order then 0
                  else {{ cdp_days_between('e.signal_at', 'coalesce(e.next_entered_at, ' ~ cdp_as_of() ~ ')') }} end
             as {{ type_double() }}) as days_in_stage,
        s.stage_order = e.current_stage_order as is_current_stage,
        p.stage as previous_stage,
        e.rule_id as entry_rule_id,
        e.source as entry_source,
        e.source_key as entry_source_key
    from entries as e
    inner join stages as s
        on s.stage_order <= e.stage_order
       and s.stage_order > coalesce(e.previous_stage_order, -1e18)
    left join stages as p on p.stage_order = e.previous_stage_order
)

select * from final
