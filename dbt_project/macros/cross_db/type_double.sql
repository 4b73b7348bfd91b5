{#- An 8-byte floating-point type: `double` on DuckDB and Spark, `double precision` on PostgreSQL
    (dbt's type_float() is a 4-byte float on some engines). -#}
{% macro type_double() -%}
    {{ return(adapter.dispatch('type_double', 'cdp')()) }}
{%- endmacro %}
{% macro default__type_double() -%} double {%- endmacro %}
{% macro postgres__type_double() -%} double precision {%- endmacro %}
