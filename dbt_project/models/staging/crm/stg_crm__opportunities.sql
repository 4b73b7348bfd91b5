{#- CRM opportunities: the latest snapshot of each, with whether and how it closed. -#}
with stg_crm__opportunity_snapshots as {{ cte_not_materialized() }} (
    select * from {{ ref('stg_crm__opportunity_snapshots') }}
),

ranked as (
    select
        *,
        row_number() over (
            partition by opportunity_id order by snapshot_at desc, _loaded_at desc, _line_number desc
        ) as snapshot_rank
    from stg_crm__opportunity_snapshots
),

final as (
    select
        opportunity_id,
        contact_id,
        stage,
        amount,
        currency,
        created_at,
        closed_at,
        closed_at is not null or stage in ('closed_won', 'closed_lost', 'won', 'lost') as is_closed,
        is_won,
        snapshot_at as updated_at
    from ranked
    where snapshot_rank = 1
)

select * from final
