{#- The records the probabilistic identity tier compares (Splink, cdp/identity_probabilistic.py): every
    CRM contact and every event hub (its user id, else its anonymous id) that has given a first and a
    last name, with the columns the comparisons read, standardised here once for every engine:
    names and email local parts lower case and letters only, the local part's digits apart (two
    people named alike differ there), nicknames mapped to the name they stand for (seed
    identity_nicknames), company names without legal suffixes (var
    cdp__identity_probabilistic_company_suffixes) or punctuation. Blocked emails (placeholders) are
    left out as the deterministic rules leave them. record_key is the node key of the identity graph
    (`type:value`), so an accepted link is an edge between two identifiers. -#}
{%- for suffix in var('cdp__identity_probabilistic_company_suffixes') %}
    {%- if not modules.re.fullmatch('[a-z]+', suffix | string) %}
        {{- exceptions.raise_compiler_error("dbt var cdp__identity_probabilistic_company_suffixes: each suffix must be "
                                            ~ "lower-case letters only (it becomes part of a pattern), not " ~ suffix) }}
    {%- endif %}
{%- endfor %}
{%- set suffixes = var('cdp__identity_probabilistic_company_suffixes') | join('|') %}
{%- set suffix_pattern = '(^|[^a-z0-9])(' ~ suffixes ~ ')([^a-z0-9]|$)' %}

with stg_crm__contacts as {{ cte_not_materialized() }} (
    select * from {{ ref('stg_crm__contacts') }}
),

stg_segment__events as {{ cte_not_materialized() }} (
    select * from {{ ref('stg_segment__events') }}
),

identity_nicknames as {{ cte_not_materialized() }} (
    select * from {{ ref('identity_nicknames') }}
),

contact_records as (
    select
        'crm_contact_id' as identifier_type,
        contact_id as identifier,
        first_name,
        last_name,
        case when not email_is_blocked then {{ identity_email_key('email') }} end as email,
        phone_e164 as phone,
        company,
        country,
        coalesce(updated_at, created_at) as observed_at
    from stg_crm__contacts
    where contact_id is not null
),

event_traits as (
    select
        case when user_id is not null and not coalesce(user_id_is_blocked, false) then 'user_id'
             when anonymous_id is not null and not coalesce(anonymous_id_is_blocked, false) then 'anonymous_id'
        end as hub_type,
        case when user_id is not null and not coalesce(user_id_is_blocked, false) then user_id
             when anonymous_id is not null and not coalesce(anonymous_id_is_blocked, false) then anonymous_id
        end as hub_value,
        first_name,
        last_name,
        case when not email_is_blocked then {{ identity_email_key('email') }} end as email,
        phone_e164,
        company,
        country,
        occurred_at
    from stg_segment__events
    where first_name is not null or last_name is not null
),

event_records as (
    select
        hub_type as identifier_type,
        hub_value as identifier,
        {{ cdp_latest('first_name', 'occurred_at') }} as first_name,
        {{ cdp_latest('last_name', 'occurred_at') }} as last_name,
        {{ cdp_latest('email', 'occurred_at') }} as email,
        {{ cdp_latest('phone_e164', 'occurred_at') }} as phone,
        {{ cdp_latest('company', 'occurred_at') }} as company,
        {{ cdp_latest('country', 'occurred_at') }} as country,
        max(occurred_at) as observed_at
    from event_traits
    where hub_value is not null
    group by hub_type, hub_value
),

records as (
    select * from contact_records
    union all
    select * from event_records
),

standardised as (
    select
        identifier_type,
        identifier,
        nullif({{ cdp_regexp_replace_all('lower(first_name)', '[^a-z]', '') }}, '') as first_name_std,
        nullif({{ cdp_regexp_replace_all('lower(last_name)', '[^a-z]', '') }}, '') as last_name_std,
        email,
        phone,
        nullif({{ cdp_regexp_replace_all(cdp_regexp_replace_all('lower(company)', suffix_pattern, ' '), '[^a-z0-9]', '') }},
               '') as company_std,
        country,
        observed_at
    from records
),

final as (
    select
        s.identifier_type || ':' || s.identifier as record_key,
        s.identifier_type,
        s.identifier,
        s.first_name_std,
        coalesce(n.canonical, s.first_name_std) as first_name_canonical,
        s.last_name_std,
        {{ cdp_regexp_replace_all("split_part(s.email, '@', 1)", '[^a-z]', '') }} as email_local_letters,
        {{ digits_only("split_part(s.email, '@', 1)") }} as email_local_digits,
        nullif(split_part(s.email, '@', 2), '') as email_domain,
        s.email,
        s.phone,
        s.company_std,
        s.country,
        s.observed_at
    from standardised as s
    left join identity_nicknames as n on n.name = s.first_name_std
    where s.first_name_std is not null and s.last_name_std is not null
)

select * from final
