{#- Consent grants and revocations, one row per recorded change, identifiers normalised and hashed.
    Incremental: each run adds the records loaded since the last one (raw.consent is append-only and
    deduplicated on load; a changed rule rebuilds it whole, cdp.build_state.RULE_PARTS). -#}
{{ config(materialized='incremental', on_schema_change='fail') }}

with raw_consent as {{ cte_not_materialized() }} (
    select * from {{ source('raw', 'consent') }}
),

source as {{ cte_not_materialized() }} (
    select * from raw_consent
    {% if is_incremental() %}
    where _loaded_at > (select coalesce(max(t._loaded_at), cast('1900-01-01' as timestamp)) from {{ this }} as t)
    {% endif %}
),

typed as (
    select
        lower(trim(r.identifier_type)) as identifier_type,
        r.identifier as identifier_raw,
        {{ normalize_identifier('r.identifier_type', 'r.identifier', 'cc') }} as identifier,
        lower(trim(r.purpose)) as purpose,
        lower(trim(r.status)) as status,
        cast(r.recorded_at as {{ type_timestamptz() }}) as recorded_at,
        nullif(trim(r.source), '') as source,
        r._source_file,
        r._line_number,
        r._loaded_at
    from source as r
    {{ join_phone_country("lower(trim(r.identifier_type)) = 'phone'") }}
),

final as (
    select
        {{ dbt.hash("concat_ws('|', identifier_type, identifier_raw, purpose, status, " ~ timestamptz_text('recorded_at') ~ ", coalesce(source, ''))") }} as consent_record_id,
        identifier_type,
        identifier,
        {{ sha256_hex('identifier') }} as identifier_sha256,
        purpose,
        status,
        recorded_at,
        source,
        _source_file,
        _line_number,
        _loaded_at
    from typed
)

select * from final
