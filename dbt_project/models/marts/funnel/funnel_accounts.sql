{#- Account-level roll-up where the CRM or identify traits name a company (account_key: the company
    name trimmed and lowercased): people, how many reached each lifecycle stage, the furthest stage
    any of them reached, lead scores, opportunities, pipeline and won amounts, and the account's
    first marketing touch. -#}
-- depends_on: {{ ref('lifecycle_stages') }}
{%- set stages = cdp_rule_rows('lifecycle_stages', 'stage_order') %}

with fct_funnel_profiles as {{ cte_not_materialized() }} (
    select * from {{ ref('fct_funnel_profiles') }}
),

fct_opportunities as {{ cte_not_materialized() }} (
    select * from {{ ref('fct_opportunities') }}
),

lifecycle_stages as {{ cte_not_materialized() }} (
    select * from {{ ref('lifecycle_stages') }}
),

people as (
    select * from fct_funnel_profiles where account_key is not null
),

people_rollup as (
    select
        account_key,
        {{ cdp_latest('company', 'current_stage_entered_at') }} as account_name,
        count(*) as people,
        {%- for s in stages %}
        count(reached_{{ s.stage }}_at) as people_reached_{{ s.stage }},
        {%- endfor %}
        max(current_stage_order) as furthest_stage_order,
        sum(lead_score) as total_lead_score,
        max(lead_score) as max_lead_score,
        min(first_touch_at) as first_touch_at,
        {{ cdp_arg_min('first_touch_channel', 'first_touch_at') }} as first_touch_channel
    from people
    group by account_key
),

opportunity_rollup as (
    select
        account_key,
        count(*) as opportunities,
        sum(amount_reporting) as pipeline_amount,
        sum(case when is_won then amount_reporting else 0 end) as won_amount,
        count(case when is_won then 1 end) as won_opportunities
    from fct_opportunities
    where account_key is not null
    group by account_key
),

final as (
    select
        p.account_key,
        p.account_name,
        p.people,
        {%- for s in stages %}
        p.people_reached_{{ s.stage }},
        {%- endfor %}
        st.stage as furthest_stage,
        p.total_lead_score,
        cast(p.max_lead_score as decimal(38, 2)) as max_lead_score,
        coalesce(o.opportunities, 0) as opportunities,
        coalesce(o.won_opportunities, 0) as won_opportunities,
        cast(coalesce(o.pipeline_amount, 0) as decimal(38, 2)) as pipeline_amount,
        cast(coalesce(o.won_amount, 0) as decimal(38, 2)) as won_amount,
        p.first_touch_at,
        p.first_touch_channel
    from people_rollup as p
    left join opportunity_rollup as o on o.account_key = p.account_key
    left join lifecycle_stages as st on st.stage_order = p.furthest_stage_order
)

select * from final
