{#- Every observed pairing of two identifiers (an edge of the identity graph), and every identifier
    seen on its own (a pair with itself, rule `seen`), aggregated over all sources with the first
    source row and time that produced it. One scan per source: each event contributes its "hub" (the
    user id, else the anonymous id; exact placeholders never become hubs) linked to the event's other
    identifiers. Which rule may link is decided later (seed identity_link_rules). -#}
{%- set blocked_user_ids = "(select identifier from " ~ ref('blocked_identifiers') ~ " where identifier_type = 'user_id')" -%}
{%- set blocked_anonymous_ids = "(select identifier from " ~ ref('blocked_identifiers') ~ " where identifier_type = 'anonymous_id')" -%}
{%- set event_slots = [
    ('seen', 'hub_type', 'hub_value', 'hub_type', 'hub_value', 'hub_value is not null'),
    ('event_identity', "'user_id'", 'user_id', "'anonymous_id'", 'anonymous_id', "hub_type = 'user_id' and anonymous_id is not null"),
    ('event_alias', "'user_id'", 'user_id', "'anonymous_id'", 'previous_id', "event_type = 'alias' and user_id is not null and previous_id is not null"),
    ('event_device', 'hub_type', 'hub_value', "'device_id'", 'device_id', 'hub_value is not null and device_id is not null'),
    ('event_email', 'hub_type', 'hub_value', "'email'", identity_email_key('email'), 'hub_value is not null and email is not null'),
    ('event_phone', 'hub_type', 'hub_value', "'phone'", 'phone_e164', 'hub_value is not null and phone_e164 is not null'),
    ('event_order', 'hub_type', 'hub_value', "'order_id'", 'order_id', "hub_value is not null and order_id is not null and event_name = 'Order Completed'"),
] -%}

with events as {{ cte_not_materialized() }} (
    select
        message_id, event_type, event_name, occurred_at, user_id, anonymous_id, previous_id, device_id,
        email, phone_e164, nullif(trim(order_id), '') as order_id,
        case when user_id is not null and lower(user_id) not in {{ blocked_user_ids }} then 'user_id'
             when anonymous_id is not null and lower(anonymous_id) not in {{ blocked_anonymous_ids }} then 'anonymous_id'
        end as hub_type
    from {{ ref('stg_segment__events') }}
),

hubbed as {{ cte_not_materialized() }} (
    select *, case hub_type when 'user_id' then user_id when 'anonymous_id' then anonymous_id end as hub_value
    from events
),

event_pairs as {{ cte_not_materialized() }} (
    {#- one scan of the events: each row crossed with the rule slots, the empty slots dropped -#}
    select
        case slot {% for s in event_slots %}when {{ loop.index }} then '{{ s[0] }}' {% endfor %}end as rule,
        case slot {% for s in event_slots %}when {{ loop.index }} then {{ s[1] }} {% endfor %}end as left_type,
        case slot {% for s in event_slots %}when {{ loop.index }} then {{ s[2] }} {% endfor %}end as left_value,
        case slot {% for s in event_slots %}when {{ loop.index }} then {{ s[3] }} {% endfor %}end as right_type,
        case slot {% for s in event_slots %}when {{ loop.index }} then {{ s[4] }} {% endfor %}end as right_value,
        occurred_at as observed_at,
        'events' as source,
        message_id as source_key
    from hubbed
    cross join (values {% for s in event_slots %}({{ loop.index }}){% if not loop.last %}, {% endif %}{% endfor %}) as slots (slot)
    where case slot {% for s in event_slots %}when {{ loop.index }} then {{ s[5] }} {% endfor %}else false end
),

contacts as {{ cte_not_materialized() }} (
    select contact_id, email, phone_e164, coalesce(updated_at, created_at) as observed_at
    from {{ ref('stg_crm__contacts') }}
    where contact_id is not null
),

crm_pairs as {{ cte_not_materialized() }} (
    select 'seen' as rule, 'crm_contact_id' as left_type, contact_id as left_value,
           'crm_contact_id' as right_type, contact_id as right_value, observed_at,
           'crm_contacts' as source, contact_id as source_key
    from contacts
    union all
    select 'crm_contact_email', 'crm_contact_id', contact_id, 'email', {{ identity_email_key('email') }}, observed_at,
           'crm_contacts', contact_id
    from contacts where email is not null
    union all
    select 'crm_contact_phone', 'crm_contact_id', contact_id, 'phone', phone_e164, observed_at, 'crm_contacts', contact_id
    from contacts where phone_e164 is not null
    union all
    select 'crm_opportunity_contact', 'crm_contact_id', contact_id, 'opportunity_id', opportunity_id, created_at,
           'crm_opportunities', opportunity_id
    from {{ ref('stg_crm__opportunities') }}
    where contact_id is not null and opportunity_id is not null
),

observed as {{ cte_not_materialized() }} (
    select * from event_pairs
    union all
    select * from crm_pairs
)

select
    rule,
    left_type,
    left_value,
    right_type,
    right_value,
    left_type || ':' || left_value as left_key,
    right_type || ':' || right_value as right_key,
    min(observed_at) as first_seen_at,
    max(observed_at) as last_seen_at,
    count(*) as observations,
    {{ cdp_arg_min('source', 'observed_at') }} as first_source,
    {{ cdp_arg_min('source_key', 'observed_at') }} as first_source_key
from observed
group by rule, left_type, left_value, right_type, right_value
