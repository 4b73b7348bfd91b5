{#- Watch (warn): the latest run drops more than gates.yml identity.dropped_identifiers.max_share of the emails and
    phones it was given as unreadable (marts.identity_dropped_identifiers lists them) - a broken
    export or a wrong default phone country, rather than a few typos. -#}
{{ config(severity='warn', meta={'dagster': {'ref': {'name': 'identity_health'}}}) }}
select run_at, invalid_email_records, invalid_phone_records, email_or_phone_records, dropped_identifier_share
from {{ ref('identity_health') }}
where run_at = (select max(h.run_at) from {{ ref('identity_health') }} as h)
  and dropped_identifier_share > {{ cdp_gate('dropped_identifiers', 'max_share') }}
