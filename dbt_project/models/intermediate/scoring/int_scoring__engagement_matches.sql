{#- One row per event and engagement rule of seeds/lead_score_rules.csv it matches (attribute
    event_name, form_id or page_path), with the rule's points before decay. Events after the as-of
    moment (var cdp__as_of, default the latest event) are left out. -#}
/* depends_on: {{ ref('int_profiles__as_of') }} */
-- depends_on: {{ ref('lead_score_rules') }}, {{ ref('int_funnel__profile_events') }}, {{ ref('stg_segment__events') }}, {{ ref('stg_crm__contacts') }}, {{ ref('stg_crm__opportunity_snapshots') }}
{%- set attributes = ['event_name', 'form_id', 'page_path'] %}
{%- set rules = cdp_rule_rows('lead_score_rules', 'rule_id') | selectattr('category', 'equalto', 'engagement') | list %}


with int_funnel__profile_events as {{ cte_not_materialized() }} (
    select * from {{ ref('int_funnel__profile_events') }}
),

final as (
    {%- for r in rules %}
    {%- if r.attribute not in attributes %}
        {{ exceptions.raise_compiler_error("lead_score_rules.csv, rule " ~ r.rule_id ~ ": an engagement rule's attribute must be one of " ~ attributes | join(', ') ~ ", got '" ~ r.attribute ~ "'") }}
    {%- endif %}
    select
        e.profile_id,
        e.message_id,
        e.occurred_at,
        {{ cdp_literal(r.rule_id) }} as rule_id,
        cast({{ r.points }} as decimal(18, 2)) as points
    from int_funnel__profile_events as e
    where {{ cdp_rule_condition('e.' ~ r.attribute, r.operator, r.value, r.rule_id) }}
      {%- if r.attribute == 'event_name' %} and e.event_type = 'track'{% endif %}
      and e.occurred_at <= {{ cdp_as_of() }}
    {% if not loop.last %}union all{% endif %}
    {%- else %}
    select
        cast(null as {{ dbt.type_string() }}) as profile_id, cast(null as {{ dbt.type_string() }}) as message_id,
        cast(null as {{ type_timestamptz() }}) as occurred_at, cast(null as {{ dbt.type_string() }}) as rule_id,
        cast(null as decimal(18, 2)) as points
    where 1 = 0
    {%- endfor %}
)

select * from final
