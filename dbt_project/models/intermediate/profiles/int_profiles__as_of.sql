{#- The moment "now" means for time-relative rules (cdp_as_of, when var cdp__as_of is not set): the
    latest staged record (event, CRM contact update or opportunity snapshot) of anyone who is not
    being erased. The erasure removes a deleted person's records after the build; their last click
    must not move everyone's clock, or the marts of this run would differ from a rebuild without
    them. One row. -#}
with int_privacy__deleted_profiles as {{ cte_not_materialized() }} (
    select * from {{ ref('int_privacy__deleted_profiles') }}
),

int_identity__event_profiles as {{ cte_not_materialized() }} (
    select * from {{ ref('int_identity__event_profiles') }}
),

identity_profile_registry as {{ cte_not_materialized() }} (
    select * from {{ ref('identity_profile_registry') }}
),

stg_segment__events as {{ cte_not_materialized() }} (
    select * from {{ ref('stg_segment__events') }}
),

stg_crm__contacts as {{ cte_not_materialized() }} (
    select * from {{ ref('stg_crm__contacts') }}
),

stg_crm__opportunity_snapshots as {{ cte_not_materialized() }} (
    select * from {{ ref('stg_crm__opportunity_snapshots') }}
),

deleted as (
    select profile_id from int_privacy__deleted_profiles
),

deleted_events as (
    select e.message_id
    from int_identity__event_profiles as e
    inner join deleted as d on d.profile_id = e.profile_id
),

deleted_contacts as (
    select r.identifier as contact_id
    from identity_profile_registry as r
    inner join deleted as d on d.profile_id = r.profile_id
    where r.identifier_type = 'crm_contact_id'
),

events as (
    select occurred_at, message_id from stg_segment__events
),

contacts as (
    select updated_at, contact_id from stg_crm__contacts
),

snapshots as (
    select snapshot_at, contact_id from stg_crm__opportunity_snapshots
),

latest as (
    select max(e.occurred_at) as latest_at from events as e
    where not exists (select 1 from deleted_events as d where d.message_id = e.message_id)
    union all
    select max(c.updated_at) from contacts as c
    where not exists (select 1 from deleted_contacts as d where d.contact_id = c.contact_id)
    union all
    select max(s.snapshot_at) from snapshots as s
    where not exists (select 1 from deleted_contacts as d where d.contact_id = s.contact_id)
),

final as (
    select max(latest_at) as as_of from latest
)

select * from final
