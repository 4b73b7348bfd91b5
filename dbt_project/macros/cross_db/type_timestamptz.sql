{#- An instant in time: `timestamp with time zone` on DuckDB and PostgreSQL; Spark's `timestamp`
    (TIMESTAMP_LTZ) is an instant already, shown in the session time zone (UTC here). -#}
{% macro type_timestamptz() -%}
    {{ return(adapter.dispatch('type_timestamptz', 'cdp')()) }}
{%- endmacro %}
{% macro default__type_timestamptz() -%} timestamp with time zone {%- endmacro %}
{% macro spark__type_timestamptz() -%} timestamp {%- endmacro %}
