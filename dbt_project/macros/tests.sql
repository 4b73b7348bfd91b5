{#- Generic tests the project needs (the dbt package hub is out of reach, so no dbt_utils). -#}

{#- Every non-null value of the column fully matches `pattern` (a regular expression). -#}
{% test matches_pattern(model, column_name, pattern) %}
select {{ column_name }} from {{ model }}
where {{ column_name }} is not null
  and not {{ cdp_regex_full_match(column_name, "'" ~ pattern ~ "'") }}
{% endtest %}

{#- The expression holds on every row. -#}
{% test expression_is_true(model, expression, column_name=none) %}
select * from {{ model }} where not ({{ expression }})
{% endtest %}

{#- The combination of columns is unique. -#}
{% test unique_combination(model, combination) %}
select {{ combination | join(', ') }}, count(*) as copies
from {{ model }}
group by {{ combination | join(', ') }}
having count(*) > 1
{% endtest %}

{#- A channel-level attribution table (credited_value per channel, with its unattributed row) credits
    nothing negative and, in total, exactly what the rule-based models credit. -#}
{% test credits_sum_to_attributed_value(model) %}
with credited as (
    select sum(credited_value) as total, min(credited_value) as smallest from {{ model }}
),
rule_based as (
    select coalesce(sum(linear_value), 0) as total from {{ ref('attribution_credits') }}
)
select * from credited cross join rule_based as r
where credited.smallest < 0 or (credited.total is not null and round(credited.total, 2) <> r.total)
{% endtest %}
