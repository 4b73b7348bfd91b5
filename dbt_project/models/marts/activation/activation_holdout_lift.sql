{#- Holdout experiments measured in the warehouse: for each experiment (a sync's `holdout:` in
    reverse_etl/syncs.yml), its treatment members (sent) against its control members (never sent):
    the share who converted, and the value per member, within var cdp__holdout_window_days days after
    each member was first assigned (ops.holdout_assignments). Lift is treatment rate - control rate,
    with a two-sided confidence interval from the normal approximation to the difference of two
    proportions (Wald): lift +/- z x sqrt(pt (1 - pt) / nt + pc (1 - pc) / nc), z = var
    cdp__holdout_confidence_z (1.96: 95%). Conversions are marts.fct_conversions (deleted people are
    in neither). One row per experiment. -#}
{%- set window_days = var('cdp__holdout_window_days') | int %}
{%- set z = var('cdp__holdout_confidence_z') | float %}

with ops_holdout_assignments as {{ cte_not_materialized() }} (
    select * from {{ source('ops', 'holdout_assignments') }}
),

fct_conversions as {{ cte_not_materialized() }} (
    select * from {{ ref('fct_conversions') }}
),

assignments as (
    select * from ops_holdout_assignments
),

conversions as (
    select * from fct_conversions
),

members as (
    select
        a.experiment,
        a.variant,
        a.profile_id,
        min(a.assigned_at) as assigned_at
    from assignments as a
    group by a.experiment, a.variant, a.profile_id
),

outcomes as (
    select
        m.experiment,
        m.variant,
        m.profile_id,
        max(case when c.profile_id is not null then 1 else 0 end) as converted,
        coalesce(sum(c.conversion_value_reporting), 0) as conversion_value
    from members as m
    left join conversions as c
        on c.profile_id = m.profile_id
       and c.converted_at > m.assigned_at
       and c.converted_at <= {{ cdp_dateadd('day', window_days, 'm.assigned_at') }}
    group by m.experiment, m.variant, m.profile_id
),

variants as (
    select
        experiment,
        sum(case when variant = 'treatment' then 1 else 0 end) as treatment_members,
        sum(case when variant = 'control' then 1 else 0 end) as control_members,
        sum(case when variant = 'treatment' then converted else 0 end) as treatment_converters,
        sum(case when variant = 'control' then converted else 0 end) as control_converters,
        sum(case when variant = 'treatment' then conversion_value else 0 end) as treatment_value,
        sum(case when variant = 'control' then conversion_value else 0 end) as control_value
    from outcomes
    group by experiment
),

rates as (
    select
        *,
        cast(treatment_converters as {{ type_double() }}) / nullif(treatment_members, 0) as treatment_rate,
        cast(control_converters as {{ type_double() }}) / nullif(control_members, 0) as control_rate
    from variants
),

errors as (
    select
        *,
        sqrt(treatment_rate * (1 - treatment_rate) / nullif(treatment_members, 0)
             + control_rate * (1 - control_rate) / nullif(control_members, 0)) as standard_error
    from rates
),

final as (
    select
        -- the experiment
        experiment,
        {{ window_days }} as window_days,
        -- sample sizes
        cast(treatment_members as bigint) as treatment_members,
        cast(control_members as bigint) as control_members,
        cast(treatment_converters as bigint) as treatment_converters,
        cast(control_converters as bigint) as control_converters,
        -- conversion
        treatment_rate,
        control_rate,
        treatment_rate - control_rate as absolute_lift,
        (treatment_rate - control_rate) / nullif(control_rate, 0) as relative_lift,
        (treatment_rate - control_rate) - {{ z }} * standard_error as absolute_lift_low,
        (treatment_rate - control_rate) + {{ z }} * standard_error as absolute_lift_high,
        -- value
        cast(treatment_value as {{ type_double() }}) / nullif(treatment_members, 0) as treatment_value_per_member,
        cast(control_value as {{ type_double() }}) / nullif(control_members, 0) as control_value_per_member,
        (treatment_rate - control_rate) * treatment_members as incremental_conversions
    from errors
)

select * from final
