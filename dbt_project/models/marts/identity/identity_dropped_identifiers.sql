{#- Every identifier that identity resolution could not use, with its reason, so none disappears
    unseen: emails and phones given on an event or a CRM contact that are not readable (an email
    that is not local@domain.tld; a phone that libphonenumber's rules cannot make E.164, national
    numbers read with the record's country or var cdp__default_phone_country), one row per record;
    and blocked placeholder values (seeds blocked_identifiers, blocked_identifier_patterns), one row
    per value. Unreadable values are not repeated here (they may be personal data); message_id or
    contact_id leads back to them (and lets erasure find the row). Counted in marts.identity_health; a warn-level check watches their share. -#}
with stg_segment__events as {{ cte_not_materialized() }} (
    select * from {{ ref('stg_segment__events') }}
),

stg_crm__contacts as {{ cte_not_materialized() }} (
    select * from {{ ref('stg_crm__contacts') }}
),

int_identity__identifiers as {{ cte_not_materialized() }} (
    select * from {{ ref('int_identity__identifiers') }}
),

events as (
    select message_id, occurred_at, email_is_invalid, phone_is_invalid
    from stg_segment__events
    where email_is_invalid or phone_is_invalid
),

contacts as (
    select contact_id, updated_at, email_is_invalid, phone_is_invalid
    from stg_crm__contacts
    where email_is_invalid or phone_is_invalid
),

blocked as (
    select identifier_type, identifier, blocked_reason, observations, last_seen_at
    from int_identity__identifiers
    where is_blocked
),

final as (
    select 'events' as source, message_id, cast(null as {{ dbt.type_string() }}) as contact_id, 'email' as identifier_type,
           cast(null as {{ dbt.type_string() }}) as identifier, 'invalid_email' as reason, 'not a readable email address' as detail,
           cast(1 as bigint) as observations, occurred_at as observed_at
    from events where email_is_invalid
    union all
    select 'events', message_id, null, 'phone', null, 'invalid_phone', 'not a possible phone number (E.164)', 1,
           occurred_at
    from events where phone_is_invalid
    union all
    select 'crm_contacts', null, contact_id, 'email', null, 'invalid_email', 'not a readable email address', 1,
           updated_at
    from contacts where email_is_invalid
    union all
    select 'crm_contacts', null, contact_id, 'phone', null, 'invalid_phone', 'not a possible phone number (E.164)',
           1, updated_at
    from contacts where phone_is_invalid
    union all
    select 'identity_graph', null, null, identifier_type, identifier, 'blocked', blocked_reason,
           cast(observations as bigint), last_seen_at
    from blocked
)

select * from final
