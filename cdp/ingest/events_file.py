"""Validating one Segment-Spec NDJSON file into `_good` (raw.events rows) and `_bad` (quarantine).

Each line is read once and parsed once (`from_json`: envelope fields as text, context/properties/
traits as JSON), then checked in SQL: a valid JSON object, the fields the Spec requires (messageId,
type, timestamp, an identity), field shapes, known message types, and a timestamp inside the
contract's sanity window. Top-level fields the Spec does not name are kept in `_extra` as JSON.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from cdp.ingest.contract import LandingContract, SourceSpec
from cdp.ingest.reading import clear_rejects, line_reader, rejected_lines, renumber_lines, sql_string

# Top-level Segment fields that get a column of their own in raw.events.
ID_FIELDS = {"messageId": "message_id", "anonymousId": "anonymous_id", "userId": "user_id",
             "previousId": "previous_id", "groupId": "group_id"}
TEXT_FIELDS = {"type": "type", "event": "event", "name": "name"}
OBJECT_FIELDS = ("context", "properties", "traits")
KNOWN_FIELDS = (*ID_FIELDS, *TEXT_FIELDS, "timestamp", *OBJECT_FIELDS)
BLANK = "__blank__"  # reason marker for blank lines: counted, neither loaded nor quarantined

#: `_message_key` is DuckDB's 64-bit hash of message_id: deduplication scans it instead of the text ids
RAW_EVENTS_DDL = """
create table if not exists raw.events (
    message_id varchar not null,
    type varchar not null,
    event varchar,
    name varchar,
    anonymous_id varchar,
    user_id varchar,
    previous_id varchar,
    group_id varchar,
    "timestamp" timestamptz not null,
    original_timestamp varchar,
    context json,
    properties json,
    traits json,
    _extra json,
    _message_key ubigint,
    _source_file varchar not null,
    _file_hash varchar not null,
    _line_number bigint not null,
    _loaded_at timestamptz not null
)
"""


def ensure_raw_events(con: duckdb.DuckDBPyConnection) -> None:
    """Create raw.events, or give a warehouse made before `_message_key` existed its keys (once)."""
    con.execute(RAW_EVENTS_DDL)
    has_key = con.execute("select count(*) from duckdb_columns() where schema_name = 'raw' "
                          "and table_name = 'events' and column_name = '_message_key'").fetchall()[0][0]
    if not has_key:
        con.execute("alter table raw.events add column _message_key ubigint")
    con.execute("update raw.events set _message_key = hash(message_id) where _message_key is null")


def _is_structured(value: str) -> str:
    """SQL: the text from_json gave for a VARCHAR field is a JSON object or array, not a scalar."""
    return f"left({value}, 1) in ('{{', '[')"


def _key_path(key: str) -> str:
    """SQL: the JSON path of the top-level key `key` (a SQL expression), any character in it escaped;
    a key is data, so it is never pasted into the path unescaped."""
    return f"""'$."' || replace(replace({key}, '\\', '\\\\'), '"', '\\"') || '"'"""


def _object_problem(field: str) -> str:
    return (f"case when m.{field} is not null and m.{field} <> 'null' and left(m.{field}, 1) <> '{{' "
            f"then '{field} must be an object' end")


def _loadable_sql(spec: SourceSpec, contract: LandingContract) -> str:
    """SQL true when a parsed line breaks no rule of `_reason_sql` (the same rules as plain booleans, so
    the reason text is built only for the few lines that break one)."""
    types = ", ".join(f"'{t}'" for t in spec.message_types)
    rules = contract.timestamps
    objects = " and ".join(f"(m.{f} is null or m.{f} = 'null' or left(m.{f}, 1) = '{{')" for f in OBJECT_FIELDS)
    return f"""
        coalesce(is_object
            and message_id is not null and not {_is_structured("message_id")}
            and type in ({types})
            and ts >= timestamptz '{rules.not_before.isoformat()} 00:00:00+00'
            and ts <= now() + interval {rules.max_future_hours} hour
            and (anonymous_id is not null or user_id is not null)
            and (type <> 'track' or event is not null)
            and (event is null or not {_is_structured("event")})
            and (type <> 'alias' or previous_id is not null)
            and len(top_keys) = len(list_distinct(top_keys)) and not list_contains(top_keys, '')
            and {objects}, false)"""


def _reason_sql(spec: SourceSpec, contract: LandingContract) -> str:
    """SQL giving why a parsed line cannot be loaded (null when it can), over the `typed` CTE."""
    types = ", ".join(f"'{t}'" for t in spec.message_types)
    type_list = ", ".join(spec.message_types)
    rules = contract.timestamps
    not_before = rules.not_before.isoformat()
    hours = rules.max_future_hours
    q = "''"  # an escaped quote inside a SQL string literal
    return f"""
        case
        when {_loadable_sql(spec, contract)} then null
        when not is_object and (line is null or trim(line) = '') then '{BLANK}'
        when not json_valid(line) then 'invalid JSON: the line is not one complete JSON document'
        when not is_object
            then 'not a message: the line is JSON ' || lower(json_type(line)) || ', expected an object'
        else nullif(concat_ws('; ',
            case when message_id is null then 'missing required field messageId'
                 when {_is_structured("message_id")} then 'messageId must be a string' end,
            case when type is null then 'missing required field type'
                 when type not in ({types})
                     then 'unknown message type {q}' || type || '{q} (expected one of {type_list})'
            end,
            case when original_timestamp is null then 'missing required field timestamp'
                 when ts is null then 'timestamp {q}' || original_timestamp || '{q} is not ISO 8601'
                 when ts < timestamptz '{not_before} 00:00:00+00'
                     then 'timestamp ' || original_timestamp || ' is before {not_before}'
                 when ts > now() + interval {hours} hour
                     then 'timestamp ' || original_timestamp || ' is more than {hours} hours in the future'
            end,
            case when anonymous_id is null and user_id is null
                 then 'message has neither anonymousId nor userId' end,
            case when type = 'track' and event is null then 'track message without an event name' end,
            case when {_is_structured("event")} then 'event must be a string' end,
            case when type = 'alias' and previous_id is null then 'alias message without previousId' end,
            case when len(top_keys) <> len(list_distinct(top_keys))
                 then 'the message names top-level key(s) more than once: ' || array_to_string(list_sort(
                     list_filter(list_distinct(top_keys),
                                 lambda key: len(list_filter(top_keys, lambda other: other = key)) > 1)), ', ')
            end,
            case when list_contains(top_keys, '') then 'the message has a top-level key that is empty' end,
            {", ".join(_object_problem(f) for f in OBJECT_FIELDS)}
        ), '')
        end"""


def stage_events_file(con: duckdb.DuckDBPyConnection, spec: SourceSpec, contract: LandingContract,
                      path: Path, file_hash: str) -> int:
    """Define temp views `_good` (raw.events rows) and `_bad` (quarantine rows) over one file.

    The file is read and checked in one pass into the temp table `_checked`; both views select from
    it. The original line is kept only for rows that go to quarantine. Returns the blank-line count.
    """
    # Scalars come out as text (a number id as its digits); objects as JSON text, checked below.
    struct = "{" + ", ".join(f'"{f}": "{"JSON" if f in OBJECT_FIELDS else "VARCHAR"}"' for f in KNOWN_FIELDS) + "}"
    known = ", ".join(f"'{f}'" for f in KNOWN_FIELDS)
    ids = ", ".join(f"nullif(trim(m.{f}), '') as {col}" for f, col in ID_FIELDS.items())
    texts = ", ".join(f"m.{f} as {col}" for f, col in TEXT_FIELDS.items())
    clear_rejects(con)
    # Reading is one thread (gzip streams); numbering lines in its own statement keeps the parsing
    # below out of that single-threaded pipeline, so it runs on every core.
    con.execute(f"create or replace temp table _lines as select row_number() over () as k, line "
                f"from {line_reader(path)}")
    con.execute(f"""
        create or replace temp table _checked as
        with lines as (
            select k, line from _lines
        ),
        parsed as (
            select k, line, coalesce(json_valid(line) and left(ltrim(line), 1) = '{{', false) as is_object
            from lines
        ),
        fields as (
            select
                k, line, is_object, m, {ids}, {texts},
                case when is_object then json_keys(line) end as top_keys,
                nullif(trim(m.timestamp), '') as original_timestamp
            from (select *, case when is_object then from_json(line, '{struct}') end as m from parsed)
        ),
        typed as (
            select *, try_cast(original_timestamp as timestamptz) as ts from fields
        ),
        checked as (
            select *, {_reason_sql(spec, contract)} as reason from typed
        )
        select
            k, reason,
            case when reason is not null then line end as line,
            message_id, type, event, name, anonymous_id, user_id, previous_id, group_id,
            ts as "timestamp", original_timestamp,
            case when left(m.context, 1) = '{{' then m.context end as context,
            case when left(m.properties, 1) = '{{' then m.properties end as properties,
            case when left(m.traits, 1) = '{{' then m.traits end as traits,
            case when len(extra_keys) > 0 then to_json(map_from_entries(list_transform(extra_keys,
                lambda key: struct_pack(k := key, v := json_extract(line, {_key_path('key')})))))
            end as _extra
        from (
            select *, case when reason is null then
                          list_filter(top_keys, lambda key: key not in ({known})) end as extra_keys
            from checked
        )
    """)
    con.execute("drop table _lines")
    renumber_lines(con, "_checked", first_line=1)
    undecodable = [(line, payload, f"unreadable line: {why}") for line, payload, why in rejected_lines(con)]
    con.execute("create or replace temp table _rejected(line_number bigint, payload varchar, reason varchar)")
    if undecodable:
        con.executemany("insert into _rejected values (?, ?, ?)", undecodable)
    con.execute(f"""
        create or replace temp view _bad as
        select line_number, line as payload, reason from _checked
        where reason is not null and reason <> '{BLANK}'
        union all
        select * from _rejected
    """)
    con.execute(f"""
        create or replace temp view _good as
        select
            message_id, type, event, name, anonymous_id, user_id, previous_id, group_id,
            "timestamp", original_timestamp, context, properties, traits, _extra,
            hash(message_id) as _message_key,
            {sql_string(path)} as _source_file,
            {sql_string(file_hash)} as _file_hash,
            line_number as _line_number,
            now() as _loaded_at
        from _checked
        where reason is null
    """)
    return int(con.execute(f"select count(*) from _checked where reason = '{BLANK}'").fetchall()[0][0])
