-- Page views per site, local day and page (the path of the URL: no host,
-- query or fragment), for the Pages report's top pages. The fold writes it
-- (`upserts::pages`, from `Deltas::pages`); `rollups check` recounts it
-- from `events`. Filled here once for the events already stored.
CREATE TABLE IF NOT EXISTS page_days (
    site_id INTEGER NOT NULL REFERENCES sites ON DELETE CASCADE,
    day     DATE NOT NULL,
    path    TEXT COLLATE "C" NOT NULL,
    views   BIGINT NOT NULL,
    PRIMARY KEY (site_id, day, path)
);

-- (Replacing whatever is there: the upgrade test's v1 database already has
-- the table, which today's fold wrote.)
DELETE FROM page_days;
INSERT INTO page_days (site_id, day, path, views)
SELECT e.site_id, (e.occurred_at AT TIME ZONE s.timezone)::date, url_path(e.url), count(*)
  FROM events e JOIN sites s ON s.site_id = e.site_id
 WHERE e.event_type = 'page_view' AND e.url IS NOT NULL
 GROUP BY 1, 2, 3;
