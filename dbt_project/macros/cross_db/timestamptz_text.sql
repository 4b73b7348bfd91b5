{#- An instant as text the way DuckDB and PostgreSQL print it in UTC ('2026-01-05 10:00:00.12+00'), on
    every engine, so ids hashed from it agree. Spark prints the session's local time without an offset;
    the session time zone is UTC (profiles.yml), so the offset is +00. -#}
{% macro timestamptz_text(expression) -%}
    {{ return(adapter.dispatch('timestamptz_text', 'cdp')(expression)) }}
{%- endmacro %}
{% macro default__timestamptz_text(expression) -%} cast({{ expression }} as {{ dbt.type_string() }}) {%- endmacro %}
{% macro spark__timestamptz_text(expression) -%} concat(cast({{ expression }} as string), '+00') {%- endmacro %}
