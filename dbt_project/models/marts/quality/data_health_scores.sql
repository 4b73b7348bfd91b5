{#-
    Database health score: for every landing source and overall, the share of records that are
    complete, valid, unique and fresh, appended once per build so BI can chart quality over time.

    Records received are every row read from the source's files (ops.load_manifest): loaded,
    quarantined or skipped as duplicates. valid = passed the landing contract (not quarantined);
    unique = not a duplicate of a record already received; complete and fresh are judged on the
    loaded rows by the rules in var cdp__health_rules (dbt_project.yml) and count quarantined and
    duplicate records as neither. health_score is the mean of the four shares.
-#}
{{ config(materialized='incremental', unique_key=['measured_at', 'source'], on_schema_change='append_new_columns') }}

{%- set rules = var('cdp__health_rules') %}

with ops_load_manifest as {{ cte_not_materialized() }} (
    select * from {{ source('ops', 'load_manifest') }}
),
{%- for source_name in rules %}

raw_{{ source_name }} as {{ cte_not_materialized() }} (
    select * from {{ source('raw', source_name) }}
),
{%- endfor %}

received as (
    select
        source,
        sum(rows_read) as records,
        sum(rows_quarantined) as quarantined,
        sum(duplicates_skipped) as duplicates,
        sum(case when status = 'quarantined' then 1 else 0 end) as files_quarantined,
        max(loaded_at) as last_loaded_at
    from ops_load_manifest
    group by source
),

loaded as (
    {%- for source_name, rule in rules.items() %}
    {%- set record_time = cdp_health_record_time(rule) %}
    select
        '{{ source_name }}' as source,
        count(*) as rows_loaded,
        sum(case when {{ cdp_health_complete(rule) }} then 1 else 0 end) as rows_complete,
        sum(case when _loaded_at <= {{ cdp_dateadd('hour', rule['fresh_within_hours'] | int, record_time) }}
                 then 1 else 0 end) as rows_fresh,
        max({{ record_time }}) as newest_record_at
    from raw_{{ source_name }}
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
),

per_source as (
    select
        l.source,
        coalesce(r.records, 0) as records,
        l.rows_loaded,
        coalesce(r.quarantined, 0) as quarantined,
        coalesce(r.duplicates, 0) as duplicates,
        coalesce(r.files_quarantined, 0) as files_quarantined,
        l.rows_complete,
        l.rows_fresh,
        l.newest_record_at,
        r.last_loaded_at
    from loaded as l
    left join received as r on r.source = l.source
),

with_overall as (
    select * from per_source
    union all
    select
        'overall', sum(records), sum(rows_loaded), sum(quarantined), sum(duplicates), sum(files_quarantined),
        sum(rows_complete), sum(rows_fresh), max(newest_record_at), max(last_loaded_at)
    from per_source
),

shares as (
    select
        *,
        case when records > 0 then rows_complete / records end as complete_share,
        case when records > 0 then (records - quarantined) / records end as valid_share,
        case when records > 0 then (records - duplicates) / records end as unique_share,
        case when records > 0 then rows_fresh / records end as fresh_share
    from with_overall
),

final as (
    select
        cast('{{ run_started_at }}' as timestamp) as measured_at,
        '{{ invocation_id }}' as dbt_invocation_id,
        source,
        cast(records as bigint) as records,
        cast(rows_loaded as bigint) as rows_loaded,
        cast(quarantined as bigint) as quarantined,
        cast(duplicates as bigint) as duplicates,
        cast(files_quarantined as bigint) as files_quarantined,
        cast(round(complete_share, 6) as {{ type_double() }}) as complete_share,
        cast(round(valid_share, 6) as {{ type_double() }}) as valid_share,
        cast(round(unique_share, 6) as {{ type_double() }}) as unique_share,
        cast(round(fresh_share, 6) as {{ type_double() }}) as fresh_share,
        cast(round((complete_share + valid_share + unique_share + fresh_share) / 4, 6) as {{ type_double() }}) as health_score,
        newest_record_at,
        last_loaded_at
    from shares
)

select * from final
