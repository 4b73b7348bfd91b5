{#- CRM contacts: the latest exported snapshot of each contact, typed, with email and phone
    normalised (phone to E.164 using the contact's country) and hashed. -#}
with raw_crm_contacts as {{ cte_not_materialized() }} (
    select * from {{ source('raw', 'crm_contacts') }}
),

ranked as (
    select
        *,
        row_number() over (
            partition by contact_id
            order by cast(coalesce(updated_at, created_at) as {{ type_timestamptz() }}) desc,
                     _loaded_at desc, _line_number desc
        ) as snapshot_rank
    from raw_crm_contacts
),

latest as (
    select * from ranked where snapshot_rank = 1
),

typed as (
    select
        contact_id,
        {{ normalize_email('email') }} as email,
        email as email_raw,
        phone as phone_raw,
        nullif(trim(first_name), '') as first_name,
        nullif(trim(last_name), '') as last_name,
        nullif(trim(company), '') as company,
        nullif(trim(job_title), '') as job_title,
        nullif(trim(industry), '') as industry,
        {{ try_cast('company_size', 'integer') }} as company_size,
        upper(nullif(trim(country), '')) as country,
        lower(nullif(trim(lead_source), '')) as lead_source,
        cast(created_at as {{ type_timestamptz() }}) as created_at,
        cast(coalesce(updated_at, created_at) as {{ type_timestamptz() }}) as updated_at,
        _source_file,
        _loaded_at
    from latest
),

final as (
    select
        t.contact_id,
        {{ pii_columns('t.email', 't.phone_raw', 'cc', 't.email_raw') }},
        t.phone_raw,
        t.first_name,
        t.last_name,
        t.company,
        t.job_title,
        t.industry,
        t.company_size,
        t.country,
        t.lead_source,
        t.created_at,
        t.updated_at,
        t._source_file,
        t._loaded_at
    from typed as t
    {{ join_phone_country('t.phone_raw is not null', 't.country') }}
)

select * from final
