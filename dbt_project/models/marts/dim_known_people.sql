{#- People we can address by email: one row per normalised email seen on events or in the CRM,
    placeholders and people who asked to be deleted left out. The identity issue replaces this with
    fully resolved profiles; until then the email is the person. -#}
with event_emails as (
    select
        email,
        min(occurred_at) as first_seen_at,
        max(occurred_at) as last_seen_at,
        count(*) as events_with_email
    from {{ ref('stg_segment__events') }}
    where email is not null and not email_is_blocked
    group by email
),

identified_names as (
    select email, first_name, last_name, user_id
    from (
        select
            email,
            first_name,
            last_name,
            user_id,
            row_number() over (partition by email order by occurred_at desc, message_id) as recency
        from {{ ref('stg_segment__events') }}
        where event_type = 'identify' and email is not null and not email_is_blocked
    ) as ranked
    where recency = 1
),

crm as (
    select *
    from (
        select
            *,
            row_number() over (partition by email order by updated_at desc, contact_id) as recency
        from {{ ref('stg_crm__contacts') }}
        where email is not null and not email_is_blocked
    ) as ranked
    where recency = 1
),

all_emails as (
    select email from event_emails
    union
    select email from crm
),

email_consent as (
    select identifier as email, status
    from (
        select
            identifier, status,
            row_number() over (partition by identifier order by recorded_at desc, status desc) as recency
        from {{ ref('stg_consent__records') }}
        where identifier_type = 'email' and purpose = 'email_marketing' and identifier is not null
    ) as ranked
    where recency = 1
),

deleted as (
    select distinct identifier as email
    from {{ ref('stg_privacy__deletion_requests') }}
    where identifier_type = 'email' and identifier is not null
)

select
    a.email,
    {{ sha256_hex('a.email') }} as email_sha256,
    coalesce(c.first_name, n.first_name) as first_name,
    coalesce(c.last_name, n.last_name) as last_name,
    c.company,
    c.country,
    c.phone_e164,
    n.user_id,
    c.contact_id as crm_contact_id,
    coalesce(e.first_seen_at, c.created_at) as first_seen_at,
    coalesce(e.last_seen_at, c.updated_at) as last_seen_at,
    coalesce(e.events_with_email, 0) as events_with_email,
    coalesce(k.status, 'unknown') as email_marketing_consent
from all_emails as a
left join event_emails as e on e.email = a.email
left join identified_names as n on n.email = a.email
left join crm as c on c.email = a.email
left join email_consent as k on k.email = a.email
where not exists (select 1 from deleted as d where d.email = a.email)
