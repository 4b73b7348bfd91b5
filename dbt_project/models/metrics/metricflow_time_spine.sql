{#- MetricFlow's calendar: one row per day from 2020 to 2035 (its metrics aggregate by metric_time
    at day, month, quarter or year). Built with the metrics' inputs, in the same dbt step: a model
    with no upstream would be a step of its own that Dagster starts before the loads, and would judge
    "nothing new" before there was anything to judge. -#}
-- depends_on: {{ ref('marketing_kpi_inputs') }}
with days as (
    {{ dbt.date_spine('day', "cast('2020-01-01' as date)", "cast('2036-01-01' as date)") }}
),

final as (
    select cast(date_day as date) as date_day from days
)

select * from final
