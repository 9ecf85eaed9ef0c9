CREATE TABLE `reward_daily` (
	`day` text NOT NULL,
	`type` text NOT NULL,
	`granted` integer DEFAULT 0 NOT NULL,
	`redeemed` integer DEFAULT 0 NOT NULL,
	`expired` integer DEFAULT 0 NOT NULL,
	`revoked` integer DEFAULT 0 NOT NULL,
	PRIMARY KEY(`day`, `type`)
);
