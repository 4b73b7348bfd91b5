{#- Audience: people who submitted a form in the last var('cdp__form_lookback_days') days before
    var('cdp__as_of') (default: the latest event), addressable by email and allowed to receive email
    marketing under var('cdp__email_consent_mode'). One row per member, keyed by email. -#}
{%- set lookback = var('cdp__form_lookback_days') | int -%}
{%- set consent_mode = var('cdp__email_consent_mode') -%}
{%- if consent_mode not in ['opt_in', 'opt_out'] -%}
    {{ exceptions.raise_compiler_error("var cdp__email_consent_mode must be opt_in or opt_out, got '" ~ consent_mode ~ "'") }}
{%- endif -%}

with as_of as (
    select
        {% if var('cdp__as_of') %}cast('{{ var("cdp__as_of") }}' as timestamp with time zone)
        {% else %}max(occurred_at){% endif %} as as_of
    from {{ ref('stg_segment__events') }}
),

identifier_emails as (
    {#- The latest email each anonymous_id and user_id identified with: a form filled in after login
        or on a known device needs no email on the event itself. -#}
    select identifier, email
    from (
        select identifier, email, row_number() over (partition by identifier order by occurred_at desc) as recency
        from (
            select 'a:' || anonymous_id as identifier, email, occurred_at
            from {{ ref('stg_segment__events') }}
            where email is not null and not email_is_blocked and anonymous_id is not null
            union all
            select 'u:' || user_id, email, occurred_at
            from {{ ref('stg_segment__events') }}
            where email is not null and not email_is_blocked and user_id is not null
        ) as seen
    ) as ranked
    where recency = 1
),

forms as (
    select
        e.occurred_at,
        e.form_id,
        coalesce(case when not e.email_is_blocked then e.email end, u.email, a.email) as email
    from {{ ref('stg_segment__events') }} as e
    cross join as_of
    left join identifier_emails as u on u.identifier = 'u:' || e.user_id
    left join identifier_emails as a on a.identifier = 'a:' || e.anonymous_id
    where e.event_type = 'track'
      and e.event_name = 'Form Submitted'
      and e.occurred_at > {{ dbt.dateadd('day', -lookback, 'as_of.as_of') }}
      and e.occurred_at <= as_of.as_of
)

select
    p.email,
    p.email_sha256,
    p.first_name,
    p.last_name,
    p.company,
    p.country,
    count(*) as form_submissions,
    max(f.occurred_at) as last_form_submitted_at,
    p.email_marketing_consent
from forms as f
inner join {{ ref('dim_known_people') }} as p on p.email = f.email
where {% if consent_mode == 'opt_in' %}p.email_marketing_consent = 'granted'
      {% else %}p.email_marketing_consent <> 'revoked'{% endif %}
group by p.email, p.email_sha256, p.first_name, p.last_name, p.company, p.country, p.email_marketing_consent
