-- Validates migration 006's CHECK on users.order_count in a transaction of its own: the scan runs under SHARE
-- UPDATE EXCLUSIVE (reads and writes of users go on), not under 006's ACCESS EXCLUSIVE.
ALTER TABLE users VALIDATE CONSTRAINT users_order_count_check;
