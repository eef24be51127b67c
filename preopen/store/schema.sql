-- The bars table preopen loads from (PostgreSQL).
--
-- preopen runs this file with {table} replaced by the quoted table name
-- (open_store(url, create=True), which creates the schema first); to run it
-- by hand, replace {table} with the name you want, e.g. bars or myschema.bars.
--
-- One row per bar. ts is the bar's start (daily bars: the session's open),
-- as timestamptz: the type a host's own bars table has, readable in SQL; on
-- the wire (binary COPY) it is int64 microseconds since 2000-01-01, which
-- preopen turns into int64 nanoseconds since 1970 in one numpy pass.
-- Prices are double precision; NaN is a value, not NULL.
-- The primary key clusters what a load reads together (one symbol, one
-- interval, a ts range) and is what write's upsert conflicts on. It covers
-- the prices (INCLUDE), so a load reads the index alone (index-only scans)
-- whatever order the rows were written in. An existing table gets the same
-- with one statement (it rebuilds the index; see the README):
--   alter table bars drop constraint bars_pkey, add primary key (symbol, interval, ts)
--     include (open, high, low, close, volume);
create table if not exists {table} (
    symbol   text             not null,
    interval text             not null,
    ts       timestamptz      not null,
    open     double precision not null,
    high     double precision not null,
    low      double precision not null,
    close    double precision not null,
    volume   double precision not null,
    primary key (symbol, interval, ts) include (open, high, low, close, volume)
);
