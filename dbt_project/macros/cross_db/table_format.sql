{#- The storage clause of a CREATE TABLE: nothing on DuckDB and PostgreSQL; Parquet on Spark (the
    table format these machines have without Delta or Iceberg jars). -#}
{% macro cdp_table_format() -%}
    {{ return(adapter.dispatch('cdp_table_format', 'cdp')()) }}
{%- endmacro %}
{% macro default__cdp_table_format() -%}{%- endmacro %}
{% macro spark__cdp_table_format() -%} using parquet {%- endmacro %}
