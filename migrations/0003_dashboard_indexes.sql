-- Indexes for the dashboard's reads (server/src/store/stats.rs): top
-- customers by spend without scanning every visitor of a site.
CREATE INDEX user_activity_site_spend ON user_activity (site_id, spend DESC) WHERE orders > 0;
