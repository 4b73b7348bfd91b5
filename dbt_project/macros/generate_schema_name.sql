{#- Plain schema names (staging, marts, audiences, rules) instead of dbt's <target>_<custom>:
    the schemas are the public interface BI tools and reverse ETL read. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}{{ target.schema }}{%- else -%}{{ custom_schema_name | trim }}{%- endif -%}
{%- endmacro %}
