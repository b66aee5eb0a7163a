// JobQueue: the job-table queue and its worker runtime (built in the queue issue).
// It knows nothing about the market; it depends only on Postgres.
