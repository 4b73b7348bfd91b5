{#- The events the funnel rules read, each with its resolved profile: every track event (conversions,
    lifecycle signals, engagement scoring) and the page/screen views whose path an engagement rule in
    seeds/lead_score_rules.csv names. Deleted profiles are left out.

    Rebuilt per profile (macros/cross_db/profile_incremental.sql): a run recomputes only the profiles
    whose events may have changed; the others keep their rows. -#}
-- depends_on: {{ ref('lead_score_rules') }}, {{ ref('identity_profile_assignments') }}
{{ config(materialized=cdp_profile_incremental_materialization(), incremental_strategy='append',
          on_schema_change='fail',
          pre_hook="{{ cdp_delete_changed_profiles(this) }}",
          post_hook="{{ cdp_drop_changed_profiles(this) }}") }}
{%- set paths = [] -%}
{%- for rule in cdp_rule_rows('lead_score_rules', 'rule_id') if rule.attribute == 'page_path' -%}
    {%- for p in (rule.value ~ '').split('|') %}{% do paths.append(p | trim | lower) %}{% endfor -%}
{%- endfor %}

with stg_segment__events as {{ cte_not_materialized() }} (
    select * from {{ ref('stg_segment__events') }}
),

int_identity__event_profiles as {{ cte_not_materialized() }} (
    select * from {{ ref('int_identity__event_profiles') }}
),

int_privacy__deleted_profiles as {{ cte_not_materialized() }} (
    select * from {{ ref('int_privacy__deleted_profiles') }}
),

final as (
    select
        p.profile_id,
        e.message_id,
        e.occurred_at,
        e.event_type,
        e.event_name,
        e.form_id,
        case when e.event_type in ('page', 'screen') then coalesce(e.page_path, e.event_name) end as page_path,
        e.revenue,
        e.currency,
        e.order_id,
        {{ cdp_profile_build_columns('stg_segment__events') }}
    from stg_segment__events as e
    inner join int_identity__event_profiles as p on p.message_id = e.message_id
    where p.profile_id is not null
      {%- if is_incremental() %}
      and p.profile_id in (select c.profile_id from {{ cdp_changed_profiles_relation(this) }} as c)
      {%- endif %}
      and (e.event_type = 'track'
           {%- if paths %}
           or (e.event_type in ('page', 'screen')
               and lower(coalesce(e.page_path, e.event_name)) in (
                   {%- for p in paths %}{{ cdp_literal(p) }}{% if not loop.last %}, {% endif %}{% endfor %}))
           {%- endif %})
      and p.profile_id not in (select d.profile_id from int_privacy__deleted_profiles as d)
)

select * from final
