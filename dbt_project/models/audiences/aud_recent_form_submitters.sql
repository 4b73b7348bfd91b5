{#- Audience: people who submitted a form in the last var('cdp__form_lookback_days') days before
    var('cdp__as_of') (default: the latest staged record), addressable by email and allowed to receive email
    marketing under var('cdp__email_consent_mode') (marts.dim_profiles: a revocation on any of the
    person's identifiers counts). One row per member, keyed by profile_id; the email sent is the
    profile's most recently seen one. Deleted people are not in dim_profiles, so never here. -#}
/* depends_on: {{ ref('int_profiles__as_of') }} */
{%- set lookback = var('cdp__form_lookback_days') | int -%}
{%- set consent_mode = var('cdp__email_consent_mode') -%}
{%- if consent_mode not in ['opt_in', 'opt_out'] -%}
    {{ exceptions.raise_compiler_error("var cdp__email_consent_mode must be opt_in or opt_out, got '" ~ consent_mode ~ "'") }}
{%- endif -%}

with stg_segment__events as {{ cte_not_materialized() }} (
    select * from {{ ref('stg_segment__events') }}
),

int_identity__event_profiles as {{ cte_not_materialized() }} (
    select * from {{ ref('int_identity__event_profiles') }}
),

dim_profiles as {{ cte_not_materialized() }} (
    select * from {{ ref('dim_profiles') }}
),

as_of as (
    select {{ cdp_as_of() }} as as_of
),

forms as (
    select p.profile_id, e.occurred_at
    from stg_segment__events as e
    inner join int_identity__event_profiles as p on p.message_id = e.message_id
    cross join as_of
    where e.event_type = 'track'
      and e.event_name = 'Form Submitted'
      and e.occurred_at > {{ cdp_dateadd('day', -lookback, 'as_of.as_of') }}
      and e.occurred_at <= as_of.as_of
),

final as (
    select
        p.profile_id,
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
    inner join dim_profiles as p on p.profile_id = f.profile_id
    where p.email is not null
      and {% if consent_mode == 'opt_in' %}p.email_marketing_consent = 'granted'
          {% else %}p.email_marketing_consent <> 'revoked'{% endif %}
    group by p.profile_id, p.email, p.email_sha256, p.first_name, p.last_name, p.company, p.country,
             p.email_marketing_consent
)

select * from final
