{#- A gate's threshold from cdp/quality/gates.yml (the one file of gate thresholds), as every dbt run of
    `cdp` passes it in the variable CDP_DBT_GATES (JSON of the file's `identity` section, overrides
    applied). dbt run by hand needs it too: export CDP_DBT_GATES="$(cdp gates --dbt-json)". -#}
{% macro cdp_gate(gate, key) -%}
    {%- set gates = fromjson(env_var('CDP_DBT_GATES', '{}')) -%}
    {%- if gate in gates and key in gates[gate] -%}
        {{ return(gates[gate][key]) }}
    {%- elif execute -%}
        {{ exceptions.raise_compiler_error(
            "gate threshold identity." ~ gate ~ "." ~ key ~ " is not set: dbt reads the identity gates of "
            ~ "cdp/quality/gates.yml from CDP_DBT_GATES, which `cdp run` and `cdp build-models` set; to run dbt "
            ~ "by hand, export CDP_DBT_GATES=\"$(cdp gates --dbt-json)\"") }}
    {%- endif -%}
    {{ return(none) }}
{%- endmacro %}
