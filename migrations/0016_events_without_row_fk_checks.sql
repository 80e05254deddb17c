-- The acknowledgement's insert into `events` (and `orders`) ran a foreign
-- key check per row: `SELECT 1 FROM sites … FOR KEY SHARE`, 393,138 of
-- them in 8 s of batches, every one locking the one row of the site, so
-- concurrent flushes shared it through MultiXacts. The server only stores
-- events of sites it found (`ingest::sites`), and sites are deleted only
-- by hand; what the foreign keys still did, removing a deleted site's raw
-- rows, a trigger on `sites` now does, off the ingestion path.
ALTER TABLE events DROP CONSTRAINT events_site_id_fkey;
ALTER TABLE orders DROP CONSTRAINT orders_site_id_fkey;

CREATE FUNCTION delete_site_raw_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM events WHERE site_id = OLD.site_id;
    DELETE FROM orders WHERE site_id = OLD.site_id;
    DELETE FROM fold_pending WHERE site_id = OLD.site_id;
    RETURN OLD;
END;
$$;

CREATE TRIGGER sites_delete_raw_rows AFTER DELETE ON sites
    FOR EACH ROW EXECUTE FUNCTION delete_site_raw_rows();

-- Raw rows of sites deleted before now would be orphans: there are none
-- (the foreign keys cascaded until this migration).
