{#- Every exported snapshot of every CRM opportunity (one per stage change), typed: the history the
    funnel reads stage transitions from. -#}
with raw_crm_opportunities as {{ cte_not_materialized() }} (
    select * from {{ source('raw', 'crm_opportunities') }}
),

final as (
    select
        opportunity_id,
        contact_id,
        lower(trim(stage)) as stage,
        cast(amount as decimal(18, 2)) as amount,
        upper(coalesce(nullif(trim(currency), ''), 'USD')) as currency,
        cast(created_at as {{ type_timestamptz() }}) as created_at,
        cast(closed_at as {{ type_timestamptz() }}) as closed_at,
        lower(trim(is_won)) in ('true', 't', '1', 'yes', 'y') as is_won,
        cast(coalesce(updated_at, closed_at, created_at) as {{ type_timestamptz() }}) as snapshot_at,
        _source_file,
        _line_number,
        _loaded_at
    from raw_crm_opportunities
)

select * from final
