DROP INDEX `referral_codes_ranking_idx`;--> statement-breakpoint
CREATE INDEX `referral_codes_leaderboard_idx` ON `referral_codes` ("signups" DESC,"conversions" DESC,`created_at`);