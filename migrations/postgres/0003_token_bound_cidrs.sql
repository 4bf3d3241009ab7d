-- Source networks a token may be used from (JSON array of CIDRs; empty = anywhere).
alter table token add column bound_cidrs text not null default '[]';
