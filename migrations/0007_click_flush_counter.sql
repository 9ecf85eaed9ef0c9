-- A flush now comes from a counter object that holds many codes: name the column after its source.
ALTER TABLE `click_flushes` RENAME COLUMN `code` TO `counter`;
