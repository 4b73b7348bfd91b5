{#- Latest known traits of every profile, from identify messages and CRM contacts (the most recently
    observed non-null value of each trait wins), plus when traits were first seen. Read by
    dim_profiles and by lead scoring (fit rules).

    Rebuilt per profile (macros/cross_db/profile_incremental.sql), with the profiles of CRM rows staged
    since the last build among the changed ones. -#}
-- depends_on: {{ ref('identity_profile_assignments') }}, {{ ref('int_privacy__deleted_profiles') }}, {{ ref('stg_crm__opportunity_snapshots') }}
{{ config(materialized=cdp_profile_incremental_materialization(), incremental_strategy='append',
          on_schema_change='fail',
          pre_hook="{{ cdp_delete_changed_profiles(this, ['crm']) }}",
          post_hook="{{ cdp_drop_changed_profiles(this) }}") }}

with identity_profile_registry as {{ cte_not_materialized() }} (
    select * from {{ ref('identity_profile_registry') }}
),

stg_segment__events as {{ cte_not_materialized() }} (
    select * from {{ ref('stg_segment__events') }}
),

int_identity__event_profiles as {{ cte_not_materialized() }} (
    select * from {{ ref('int_identity__event_profiles') }}
),

stg_crm__contacts as {{ cte_not_materialized() }} (
    select * from {{ ref('stg_crm__contacts') }}
),

registry as (
    select profile_id, node_key from identity_profile_registry
    {%- if is_incremental() %}
    where profile_id in (select c.profile_id from {{ cdp_changed_profiles_relation(this) }} as c)
    {%- endif %}
),

observations as (
    select
        p.profile_id, e.occurred_at as observed_at, e.first_name, e.last_name, e.company, e.job_title,
        e.country, cast(null as {{ dbt.type_string() }}) as industry, cast(null as integer) as company_size
    from stg_segment__events as e
    inner join int_identity__event_profiles as p on p.message_id = e.message_id
    where e.event_type = 'identify' and p.profile_id is not null
    {%- if is_incremental() %}
      and p.profile_id in (select c.profile_id from {{ cdp_changed_profiles_relation(this) }} as c)
    {%- endif %}
    union all
    select
        r.profile_id, c.updated_at, c.first_name, c.last_name, c.company, c.job_title, c.country,
        c.industry, c.company_size
    from stg_crm__contacts as c
    inner join registry as r on r.node_key = 'crm_contact_id:' || c.contact_id
),

latest as (
    select
        profile_id,
        {%- for f in ['first_name', 'last_name', 'company', 'job_title', 'country', 'industry', 'company_size'] %}
        {{ cdp_latest(f, 'observed_at') }} as {{ f }},
        {%- endfor %}
        min(observed_at) as traits_first_observed_at
    from observations
    group by profile_id
),

final as (
    select
        l.*,
        {{ cdp_profile_build_columns('stg_segment__events') }},
        {{ cdp_records_loaded_through(['crm']) }}
    from latest as l
)

select * from final
