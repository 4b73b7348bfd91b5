{#- Data-subject deletion requests, identifiers normalised and hashed like everywhere else. -#}
with raw_deletion_requests as {{ cte_not_materialized() }} (
    select * from {{ source('raw', 'deletion_requests') }}
),

ranked as (
    select
        r.*,
        row_number() over (partition by r.request_id order by r._loaded_at, r._line_number) as copy_rank
    from raw_deletion_requests as r
),

final as (
    select
        r.request_id,
        lower(trim(r.identifier_type)) as identifier_type,
        {{ normalize_identifier('r.identifier_type', 'r.identifier', 'cc') }} as identifier,
        {{ sha256_hex(normalize_identifier('r.identifier_type', 'r.identifier', 'cc')) }} as identifier_sha256,
        cast(r.requested_at as {{ type_timestamptz() }}) as requested_at,
        r._source_file
    from ranked as r
    {{ join_phone_country("lower(trim(r.identifier_type)) = 'phone'") }}
    where r.copy_rank = 1
)

select * from final
