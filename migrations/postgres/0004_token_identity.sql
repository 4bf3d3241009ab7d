-- The identity a login established (auth mount, alias name, operator-controlled metadata), as
-- JSON; '' for tokens made through auth/token without a login behind them. Templated policy paths
-- read only this, never the caller-set `meta`.
alter table token add column identity text not null default '';
