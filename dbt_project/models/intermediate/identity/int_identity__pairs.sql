{#- Every observed pairing of two identifiers (an edge of the identity graph), and every identifier
    seen on its own (rule `seen`), aggregated per link rule over all sources, with the first source
    row and time that produced it. Each event's "hub" (its user id, else its anonymous id; exact
    placeholders, flagged in staging, never become hubs) is paired with the event's other identifiers. One aggregation
    per rule over the columns it needs. Which rules may link is decided later (seed
    identity_link_rules). -#}
{%- set aggregates -%}
    min(observed_at) as first_seen_at, max(observed_at) as last_seen_at, count(*) as observations,
    {{ cdp_arg_min('source_key', 'observed_at') }} as first_source_key
{%- endset -%}
{%- set event_rules = [
    ('event_identity', "'user_id'", 'user_id', "'anonymous_id'", 'anonymous_id', "hub_type = 'user_id' and anonymous_id is not null"),
    ('event_alias', "'user_id'", 'user_id', "'anonymous_id'", 'previous_id', "event_type = 'alias' and user_id is not null and previous_id is not null"),
    ('event_device', 'hub_type', 'hub_value', "'device_id'", 'device_id', 'hub_value is not null and device_id is not null'),
    ('event_email', 'hub_type', 'hub_value', "'email'", identity_email_key('email'), 'hub_value is not null and email is not null'),
    ('event_phone', 'hub_type', 'hub_value', "'phone'", 'phone_e164', 'hub_value is not null and phone_e164 is not null'),
    ('event_order', 'hub_type', 'hub_value', "'order_id'", "nullif(trim(order_id), '')", "hub_value is not null and nullif(trim(order_id), '') is not null and event_name = 'Order Completed'"),
] %}

with stg_segment__events as {{ cte_not_materialized() }} (
    select * from {{ ref('stg_segment__events') }}
),

stg_crm__contacts as {{ cte_not_materialized() }} (
    select * from {{ ref('stg_crm__contacts') }}
),

stg_crm__opportunities as {{ cte_not_materialized() }} (
    select * from {{ ref('stg_crm__opportunities') }}
),

identity_probabilistic_links as {{ cte_not_materialized() }} (
    select * from {{ source('identity_probabilistic', 'identity_probabilistic_links') }}
),

events as {{ cte_not_materialized() }} (
    select
        message_id as source_key, event_type, event_name, occurred_at as observed_at, user_id, anonymous_id,
        previous_id, device_id, email, phone_e164, order_id,
        case when user_id is not null and not coalesce(user_id_is_blocked, false) then 'user_id'
             when anonymous_id is not null and not coalesce(anonymous_id_is_blocked, false) then 'anonymous_id'
        end as hub_type
    from stg_segment__events
),

hubbed as {{ cte_not_materialized() }} (
    select *, case hub_type when 'user_id' then user_id when 'anonymous_id' then anonymous_id end as hub_value
    from events
),

contacts as {{ cte_not_materialized() }} (
    select contact_id as source_key, email, phone_e164, coalesce(updated_at, created_at) as observed_at
    from stg_crm__contacts
    where contact_id is not null
),

probabilistic as {{ cte_not_materialized() }} (
    select
        left_type, left_value, right_type, right_value, observed_at,
        -- what explain-profile shows as the edge's source row: the probability and the evidence
        'p=' || cast(match_probability as {{ dbt.type_string() }}) || ' (' || evidence || ')' as source_key
    from identity_probabilistic_links
),

opportunities as {{ cte_not_materialized() }} (
    select opportunity_id as source_key, contact_id, opportunity_id, created_at as observed_at
    from stg_crm__opportunities
    where contact_id is not null and opportunity_id is not null
),

final as (
    {#- identifiers seen alone: no source row kept (they are everywhere), just when and how often -#}
    select 'seen' as rule, 'events' as source, hub_type as left_type, hub_value as left_value,
           hub_type as right_type, hub_value as right_value,
           min(observed_at) as first_seen_at, max(observed_at) as last_seen_at, count(*) as observations,
           cast(null as {{ dbt.type_string() }}) as first_source_key
    from hubbed
    where hub_value is not null
    group by hub_type, hub_value
    {%- for rule, left_type, left_value, right_type, right_value, condition in event_rules %}
    union all
    select {{ cdp_literal(rule) }}, 'events', {{ left_type }}, {{ left_value }}, {{ right_type }}, {{ right_value }}, {{ aggregates }}
    from hubbed
    where {{ condition }}
    {# constants (quoted types) are not grouped by: PostgreSQL refuses a constant in GROUP BY #}
    group by {% for e in [left_type, left_value, right_type, right_value] if not e.startswith("'") %}{{ e }}{% if not loop.last %}, {% endif %}{% endfor %}
    {%- endfor %}
    union all
    -- a union branch takes its names from the first: the key twice is not a clash
    select 'seen', 'crm_contacts', 'crm_contact_id', source_key, 'crm_contact_id', source_key, {{ aggregates }}  -- noqa: AL08
    from contacts
    group by source_key
    union all
    select 'crm_contact_email', 'crm_contacts', 'crm_contact_id', source_key, 'email', {{ identity_email_key('email') }}, {{ aggregates }}
    from contacts
    where email is not null
    group by source_key, {{ identity_email_key('email') }}
    union all
    select 'crm_contact_phone', 'crm_contacts', 'crm_contact_id', source_key, 'phone', phone_e164, {{ aggregates }}
    from contacts
    where phone_e164 is not null
    group by source_key, phone_e164
    union all
    select 'crm_opportunity_contact', 'crm_opportunities', 'crm_contact_id', contact_id, 'opportunity_id', opportunity_id,
           {{ aggregates }}
    from opportunities
    group by contact_id, opportunity_id
    union all
    -- the link's time is its first and its last sighting: not a clash of names
    select 'probabilistic', 'splink', left_type, left_value, right_type, right_value,
           observed_at, observed_at, 1, source_key  -- noqa: AL08
    from probabilistic
)

select * from final
