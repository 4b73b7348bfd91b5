{#- Every CRM opportunity (latest snapshot) with the profile it belongs to (the profile of the
    opportunity id in the identity graph, else of its contact) and its milestones from the snapshot
    history, which only grows: when it was first won (and the amount won then) and first lost. A
    deal reopened later keeps its milestones, so stages and conversions built on them never move
    back. Deleted profiles are left out. -#}
with stg_crm__opportunity_snapshots as {{ cte_not_materialized() }} (
    select * from {{ ref('stg_crm__opportunity_snapshots') }}
),

stg_crm__opportunities as {{ cte_not_materialized() }} (
    select * from {{ ref('stg_crm__opportunities') }}
),

identity_profile_registry as {{ cte_not_materialized() }} (
    select * from {{ ref('identity_profile_registry') }}
),

int_privacy__deleted_profiles as {{ cte_not_materialized() }} (
    select * from {{ ref('int_privacy__deleted_profiles') }}
),

milestones as (
    select
        opportunity_id,
        min(case when is_won then coalesce(closed_at, snapshot_at) end) as first_won_at,
        {{ cdp_first_value('case when is_won then amount end', 'case when is_won then 0 else 1 end, snapshot_at') }}
            as won_amount,
        {{ cdp_first_value('case when is_won then currency end', 'case when is_won then 0 else 1 end, snapshot_at') }}
            as won_currency,
        min(case when not is_won and (closed_at is not null or stage in ('closed_lost', 'lost'))
                 then coalesce(closed_at, snapshot_at) end) as first_lost_at
    from stg_crm__opportunity_snapshots
    group by opportunity_id
),

final as (
    select
        coalesce(po.profile_id, pc.profile_id) as profile_id,
        o.opportunity_id,
        o.contact_id,
        o.stage,
        o.amount,
        o.currency,
        o.created_at,
        o.closed_at,
        o.is_closed,
        o.is_won,
        o.updated_at,
        m.first_won_at,
        m.won_amount,
        m.won_currency,
        m.first_lost_at
    from stg_crm__opportunities as o
    inner join milestones as m on m.opportunity_id = o.opportunity_id
    left join identity_profile_registry as po on po.node_key = 'opportunity_id:' || o.opportunity_id
    left join identity_profile_registry as pc on pc.node_key = 'crm_contact_id:' || o.contact_id
    where coalesce(po.profile_id, pc.profile_id) is not null
      and coalesce(po.profile_id, pc.profile_id) not in (select d.profile_id from int_privacy__deleted_profiles as d)
)

select * from final
