{#- Invariant (blocking): for every attributed conversion and every rule-based model, the credited
    values sum exactly (to the cent) to the conversion value, the shares sum to 1, and no credit or
    share is negative. Null-safe: a model that credits nothing (null) to a conversion that has a value
    fails too. -#}
{%- set models = attribution_rule_models() %}
with per_conversion as (
    select
        conversion_id,
        max(conversion_value_reporting) as conversion_value,
        {%- for m in models %}
        sum({{ m }}_value) as {{ m }}_value,
        sum({{ m }}_share) as {{ m }}_share,
        min(least({{ m }}_value, {{ m }}_share)) as {{ m }}_minimum{% if not loop.last %},{% endif %}
        {%- endfor %}
    from {{ ref('attribution_credits') }}
    group by conversion_id
)
select *
from per_conversion
where 1 = 0
{%- for m in models %}
   or ({{ m }}_value is distinct from conversion_value and conversion_value is not null)
   or abs({{ m }}_share - 1) > 1e-9 or ({{ m }}_share is null and conversion_value is not null)
   or {{ m }}_minimum < 0
{%- endfor %}
