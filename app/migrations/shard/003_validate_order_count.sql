-- Validates shard/002's CHECK on users.order_count in a transaction of its own: the scan runs under SHARE UPDATE
-- EXCLUSIVE (the users' reads and writes go on), not under 002's ACCESS EXCLUSIVE.
ALTER TABLE users VALIDATE CONSTRAINT users_order_count_check;
