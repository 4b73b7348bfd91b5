{#- One row per profile that reached at least one lifecycle stage: its current stage, when it
    reached each stage of seeds/lifecycle_stages.csv (reached_<stage>_at; a skipped stage counts as
    reached at the moment it was passed over, so these never decrease along the funnel), its first
    marketing touch (channel and campaign), cohort month, account and lead score. -#}
-- depends_on: {{ ref('lifecycle_stages') }}
{%- set stages = cdp_rule_rows('lifecycle_stages', 'stage_order') | map(attribute='stage') | list %}
{%- for s in stages %}
    {%- if not modules.re.match('^[a-z][a-z0-9_]*$', s) %}
        {{ exceptions.raise_compiler_error("lifecycle_stages.csv: stage '" ~ s ~ "' must be lowercase letters, digits and _ (it names columns)") }}
    {%- endif %}
{%- endfor %}

with lifecycle_stage_history as {{ cte_not_materialized() }} (
    select * from {{ ref('lifecycle_stage_history') }}
),

int_marketing__touches as {{ cte_not_materialized() }} (
    select * from {{ ref('int_marketing__touches') }}
),

int_profiles__traits as {{ cte_not_materialized() }} (
    select * from {{ ref('int_profiles__traits') }}
),

lead_scores as {{ cte_not_materialized() }} (
    select * from {{ ref('lead_scores') }}
),

reached as (
    select
        profile_id,
        {%- for s in stages %}
        min(case when stage = {{ cdp_literal(s) }} then entered_at end) as reached_{{ s }}_at,
        {%- endfor %}
        max(case when is_current_stage then stage end) as current_stage,
        max(case when is_current_stage then stage_order end) as current_stage_order,
        max(case when is_current_stage then entered_at end) as current_stage_entered_at,
        min(entered_at) as first_stage_at
    from lifecycle_stage_history
    group by profile_id
),

first_touches as (
    select
        profile_id,
        min(occurred_at) as first_touch_at,
        {{ cdp_first_value('channel', 'occurred_at, message_id') }} as first_touch_channel,
        {{ cdp_first_value('utm_campaign', 'occurred_at, message_id') }} as first_touch_campaign
    from int_marketing__touches
    group by profile_id
),

final as (
    select
        r.profile_id,
        r.current_stage,
        r.current_stage_order,
        r.current_stage_entered_at,
        {%- for s in stages %}
        r.reached_{{ s }}_at,
        {%- endfor %}
        f.first_touch_at,
        coalesce(f.first_touch_channel, '(none)') as first_touch_channel,
        coalesce(f.first_touch_campaign, '(none)') as first_touch_campaign,
        cast({{ dbt.date_trunc('month', 'coalesce(f.first_touch_at, r.first_stage_at)') }} as date) as cohort_month,
        lower(trim(t.company)) as account_key,
        t.company,
        cast(coalesce(sc.lead_score, 0) as decimal(38, 2)) as lead_score
    from reached as r
    left join first_touches as f on f.profile_id = r.profile_id
    left join int_profiles__traits as t on t.profile_id = r.profile_id
    left join lead_scores as sc on sc.profile_id = r.profile_id
)

select * from final
