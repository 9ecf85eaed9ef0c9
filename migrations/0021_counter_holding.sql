-- Whether a counter object may hold clicks D1 does not have yet. Program-wide
-- reads ask only the counters that say so, instead of every listed one. The
-- counter sets it (and waits for it) before it acknowledges the first click
-- after being drained, and clears it in the flush batch that drains it; its
-- writes to D1 go one at a time, so they land in the order it makes them.
-- Existing counters start as holding: each clears the flag on its next flush
-- or the first time a read asks it and it holds nothing.
ALTER TABLE `click_counters` ADD `holding` integer DEFAULT 1 NOT NULL;
