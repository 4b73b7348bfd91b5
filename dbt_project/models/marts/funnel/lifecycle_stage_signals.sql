{#- Every piece of evidence for a lifecycle stage: one row per profile, rule of
    seeds/lifecycle_stage_rules.csv and source record that satisfies it, with when. `advance` rules
    move a person forward (never back); `demote` rules are what a source says about an earlier
    stage (a lost deal, a decayed score); they are logged in marts.lifecycle_regression_attempts and
    never applied. Signals:
      event             a track event named `match` (and, when given, with that form_id);
      crm_contact       a CRM contact of the person exists (at its created_at);
      consent           a grant of purpose `match` on any of the person's identifiers;
      lead_score        the lead score first reached var cdp__mql_score_threshold;
      lead_score_below  the lead score fell below the threshold again;
      opportunity_stage an opportunity of the person entered one of the '|'-separated stages `match`;
      opportunity_won   an opportunity was first won;  opportunity_lost  one was first lost
                        (milestones from the snapshot history, which only grows). -#}
/* depends_on: {{ ref('int_profiles__as_of') }} */
-- depends_on: {{ ref('lifecycle_stage_rules') }}, {{ ref('lifecycle_stages') }}, {{ ref('int_funnel__profile_events') }}, {{ ref('stg_crm__contacts') }}, {{ ref('stg_consent__records') }}, {{ ref('lead_score_history') }}, {{ ref('stg_crm__opportunity_snapshots') }}, {{ ref('int_funnel__opportunities') }}
{%- set signals = ['event', 'crm_contact', 'consent', 'lead_score', 'lead_score_below', 'opportunity_stage',
                   'opportunity_won', 'opportunity_lost'] %}
{%- set rules = cdp_rule_rows('lifecycle_stage_rules', 'rule_id') %}
{%- set stages = cdp_rule_rows('lifecycle_stages', 'stage_order') | map(attribute='stage') | list %}

with identity_profile_registry as {{ cte_not_materialized() }} (
    select * from {{ ref('identity_profile_registry') }}
),

int_privacy__deleted_profiles as {{ cte_not_materialized() }} (
    select * from {{ ref('int_privacy__deleted_profiles') }}
),

int_funnel__profile_events as {{ cte_not_materialized() }} (
    select * from {{ ref('int_funnel__profile_events') }}
),

stg_crm__contacts as {{ cte_not_materialized() }} (
    select * from {{ ref('stg_crm__contacts') }}
),

stg_consent__records as {{ cte_not_materialized() }} (
    select * from {{ ref('stg_consent__records') }}
),

lead_score_history as {{ cte_not_materialized() }} (
    select * from {{ ref('lead_score_history') }}
),

stg_crm__opportunity_snapshots as {{ cte_not_materialized() }} (
    select * from {{ ref('stg_crm__opportunity_snapshots') }}
),

int_funnel__opportunities as {{ cte_not_materialized() }} (
    select * from {{ ref('int_funnel__opportunities') }}
),

lifecycle_stage_rules as {{ cte_not_materialized() }} (
    select * from {{ ref('lifecycle_stage_rules') }}
),

lifecycle_stages as {{ cte_not_materialized() }} (
    select * from {{ ref('lifecycle_stages') }}
),

registry as (
    select r.profile_id, r.node_key from identity_profile_registry as r
    where r.profile_id not in (select d.profile_id from int_privacy__deleted_profiles as d)
),

evidence as (
{%- for r in rules %}
    {%- if r.signal not in signals %}
        {{ exceptions.raise_compiler_error("lifecycle_stage_rules.csv, rule " ~ r.rule_id ~ ": signal must be one of " ~ signals | join(', ') ~ ", got '" ~ r.signal ~ "'") }}
    {%- endif %}
    {%- if r.kind not in ['advance', 'demote'] %}
        {{ exceptions.raise_compiler_error("lifecycle_stage_rules.csv, rule " ~ r.rule_id ~ ": kind must be advance or demote, got '" ~ r.kind ~ "'") }}
    {%- endif %}
    {%- if r.stage not in stages %}
        {{ exceptions.raise_compiler_error("lifecycle_stage_rules.csv, rule " ~ r.rule_id ~ ": stage '" ~ r.stage ~ "' is not in lifecycle_stages.csv (" ~ stages | join(', ') ~ ")") }}
    {%- endif %}
    select {{ cdp_literal(r.rule_id) }} as rule_id, profile_id, signal_at, {{ cdp_literal(r.signal) }} as source, source_key
    from (
    {%- if r.signal == 'event' %}
        select profile_id, occurred_at as signal_at, message_id as source_key
        from int_funnel__profile_events
        where event_type = 'track' and lower(event_name) = lower({{ cdp_literal(r.match) }})
        {%- if r.form_id %} and lower(form_id) = lower({{ cdp_literal(r.form_id) }}){% endif %}
    {%- elif r.signal == 'crm_contact' %}
        select r.profile_id, c.created_at as signal_at, c.contact_id as source_key
        from stg_crm__contacts as c
        inner join registry as r on r.node_key = 'crm_contact_id:' || c.contact_id
    {%- elif r.signal == 'consent' %}
        select r.profile_id, k.recorded_at as signal_at, k.identifier_type || ':' || k.identifier as source_key
        from stg_consent__records as k
        inner join registry as r
            on r.node_key = k.identifier_type || ':' || case when k.identifier_type = 'email'
                                                             then {{ identity_email_key('k.identifier') }}
                                                             else k.identifier end
        where k.purpose = {{ cdp_literal(r.match) }} and k.status = 'granted'
    {%- elif r.signal == 'lead_score' %}
        select profile_id, min(scored_at) as signal_at, 'lead_score_history' as source_key
        from lead_score_history
        where crosses_threshold
        group by profile_id
    {%- elif r.signal == 'lead_score_below' %}
        select profile_id, falls_below_threshold_at as signal_at, 'lead_score_history' as source_key
        from lead_score_history
        where falls_below_threshold_at is not null
    {%- elif r.signal == 'opportunity_stage' %}
        select o.profile_id, min(s.snapshot_at) as signal_at, s.opportunity_id as source_key
        from stg_crm__opportunity_snapshots as s
        inner join int_funnel__opportunities as o on o.opportunity_id = s.opportunity_id
        where s.stage in {{ cdp_literal_list(r.match) }}
        group by o.profile_id, s.opportunity_id
    {%- elif r.signal == 'opportunity_won' %}
        select profile_id, first_won_at as signal_at, opportunity_id as source_key
        from int_funnel__opportunities
        where first_won_at is not null
    {%- elif r.signal == 'opportunity_lost' %}
        select profile_id, first_lost_at as signal_at, opportunity_id as source_key
        from int_funnel__opportunities
        where first_lost_at is not null
    {%- endif %}
    ) as matched
    where signal_at is not null
    {% if not loop.last %}union all{% endif %}
{%- endfor %}
),

final as (
    select
        e.profile_id,
        e.signal_at,
        r.stage,
        s.stage_order,
        e.rule_id,
        r.kind,
        e.source,
        e.source_key
    from evidence as e
    inner join lifecycle_stage_rules as r on r.rule_id = e.rule_id
    inner join lifecycle_stages as s on s.stage = r.stage
    where e.signal_at <= {{ cdp_as_of() }}
)

select * from final
