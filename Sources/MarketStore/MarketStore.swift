// MarketStore: the SQL for the domain, on Postgres; the schema itself lives in sql/ (see Migrations).
