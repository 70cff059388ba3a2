-- a gallery written by lookalike 0.1 (main at 8e590df): its meta table is the old key/value layout
BEGIN TRANSACTION;
CREATE TABLE identities (code INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT UNIQUE NOT NULL);
INSERT INTO "identities" VALUES(1,'ada');
INSERT INTO "identities" VALUES(2,'bob');
CREATE TABLE items (
  id INTEGER PRIMARY KEY AUTOINCREMENT, code INTEGER NOT NULL, metadata TEXT NOT NULL,
  vector BLOB NOT NULL, gen INTEGER NOT NULL);
INSERT INTO "items" VALUES(1,1,'{}',X'48FE3E3E44AD48BE4936733FD1591F3E',1);
INSERT INTO "items" VALUES(2,1,'{}',X'0CF39DBE113E553E4740403F3EA10B3F',1);
INSERT INTO "items" VALUES(3,2,'{}',X'547DE4BEE36D4DBF8F5DCABE2CAFD63C',2);
INSERT INTO "items" VALUES(4,2,'{}',X'27BB58BFEA28A3BD5B47E8BEC98488BE',2);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO "meta" VALUES('store','{"format": 1, "dim": 4, "distance": {"name": "cosine", "params": {}}, "uuid": "c6b447bc879f43dbb9f500f5cc1054fd"}');
INSERT INTO "meta" VALUES('generation','3');
INSERT INTO "meta" VALUES('model','{"encoder": "identity", "kind": "vector", "fingerprint": "4cdd9f4c30f2365426c97c358f0eb4b6eda2c501483cb6644101e6467cec7e0f", "embedding_size": 4, "distance": {"name": "cosine", "params": {}}}');
INSERT INTO "meta" VALUES('model_source','"identity:4"');
INSERT INTO "meta" VALUES('scoring','"max"');
INSERT INTO "meta" VALUES('threshold','0.5');
INSERT INTO "meta" VALUES('created','"2026-01-01T00:00:00+00:00"');
INSERT INTO "meta" VALUES('lookalike_version','"0.1.0"');
CREATE TABLE removed (id INTEGER PRIMARY KEY, gen INTEGER NOT NULL);
CREATE INDEX items_code ON items(code);
CREATE INDEX removed_gen ON removed(gen);
DELETE FROM "sqlite_sequence";
INSERT INTO "sqlite_sequence" VALUES('identities',2);
INSERT INTO "sqlite_sequence" VALUES('items',4);
COMMIT;
